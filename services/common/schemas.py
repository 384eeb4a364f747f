"""marshmallow schemas more than one service replies with, and the one instance of each schema."""

import functools

from marshmallow import Schema, fields

from services.common.fields import Timestamp


@functools.cache
def shared(schema_class: type[Schema], many: bool = False) -> Schema:
    """The one instance of a schema class: marshmallow deep-copies every declared field when a
    schema is instantiated, which cost more than the dump or load itself on each call. A schema
    keeps no state between calls, so one instance serves every worker."""
    return schema_class(many=many)


class VideoPreview(Schema):
    """What a list of videos shows of each: KillrVideo's VideoPreview, SearchResultsVideoPreview
    and SuggestedVideoPreview, which have the same fields."""

    video_id = fields.UUID()
    added_date = Timestamp()
    name = fields.String()
    preview_image_location = fields.String()
    user_id = fields.UUID()
