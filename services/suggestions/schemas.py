"""The suggestions service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields

from services.common.fields import page_size, paging_state
from services.common.schemas import VideoPreview


class RelatedVideosRequest(Schema):
    video_id = fields.UUID(required=True)
    page_size = page_size()
    paging_state = paging_state()


class SuggestedForUserRequest(Schema):
    user_id = fields.UUID(required=True)
    page_size = page_size()
    paging_state = paging_state()


class RelatedVideosPage(Schema):
    video_id = fields.UUID()
    videos = fields.List(fields.Nested(VideoPreview))
    paging_state = fields.String()


class SuggestedForUserPage(Schema):
    user_id = fields.UUID()
    videos = fields.List(fields.Nested(VideoPreview))
    paging_state = fields.String()
