"""The comments service's boundaries: RPC requests and replies, as marshmallow schemas."""

from marshmallow import Schema, fields, validate

from services.common.fields import Timestamp, TimeUUID, page_size, paging_state

# Room for a long comment, small enough to refuse abuse.
MAX_COMMENT_LENGTH = 5000


class CommentOnVideoRequest(Schema):
    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    comment_id = TimeUUID(required=True)
    comment = fields.String(required=True, validate=validate.Length(min=1, max=MAX_COMMENT_LENGTH))


class PageRequest(Schema):
    page_size = page_size()
    starting_comment_id = TimeUUID(load_default=None, allow_none=True)
    paging_state = paging_state()


class VideoCommentsRequest(PageRequest):
    video_id = fields.UUID(required=True)


class UserCommentsRequest(PageRequest):
    user_id = fields.UUID(required=True)


class Comment(Schema):
    comment_id = fields.UUID()
    comment = fields.String()
    comment_timestamp = Timestamp()


class VideoComment(Comment):
    user_id = fields.UUID()


class UserComment(Comment):
    video_id = fields.UUID()


class VideoCommentsPage(Schema):
    video_id = fields.UUID()
    comments = fields.List(fields.Nested(VideoComment))
    paging_state = fields.String()


class UserCommentsPage(Schema):
    user_id = fields.UUID()
    comments = fields.List(fields.Nested(UserComment))
    paging_state = fields.String()
