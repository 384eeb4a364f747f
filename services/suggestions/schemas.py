"""The suggestions service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields

from services.common.fields import Timestamp, page_size, paging_state


class RelatedVideosRequest(Schema):
    video_id = fields.UUID(required=True)
    page_size = page_size()
    paging_state = paging_state()


class SuggestedForUserRequest(Schema):
    user_id = fields.UUID(required=True)
    page_size = page_size()
    paging_state = paging_state()


class SuggestedVideo(Schema):
    video_id = fields.UUID()
    added_date = Timestamp()
    name = fields.String()
    preview_image_location = fields.String()
    user_id = fields.UUID()


class RelatedVideosPage(Schema):
    video_id = fields.UUID()
    videos = fields.List(fields.Nested(SuggestedVideo))
    paging_state = fields.String()


class SuggestedForUserPage(Schema):
    user_id = fields.UUID()
    videos = fields.List(fields.Nested(SuggestedVideo))
    paging_state = fields.String()
