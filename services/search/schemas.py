"""The search service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields, validate

from services.common.fields import page_size, paging_state
from services.common.schemas import VideoPreview

MAX_QUERY_LENGTH = 200


def query() -> fields.String:
    # Not only whitespace: a query must say something.
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_QUERY_LENGTH),
            validate.Regexp(r".*\S", error="Must not be blank."),
        ],
    )


class SearchVideosRequest(Schema):
    query = query()
    page_size = page_size()
    paging_state = paging_state()


class GetQuerySuggestionsRequest(Schema):
    query = query()
    page_size = page_size()


class SearchResultsPage(Schema):
    query = fields.String()
    videos = fields.List(fields.Nested(VideoPreview))
    paging_state = fields.String()


class QuerySuggestions(Schema):
    query = fields.String()
    suggestions = fields.List(fields.String())
