"""Events the comments service publishes (documented in docs/events.md)."""

from marshmallow import Schema, fields

from services.common.events import Event
from services.common.fields import Timestamp, TimeUUID


class UserCommentedOnVideoPayload(Schema):
    user_id = fields.UUID(required=True)
    video_id = fields.UUID(required=True)
    comment_id = TimeUUID(required=True)
    comment_timestamp = Timestamp(required=True)


USER_COMMENTED_ON_VIDEO = Event("user_commented_on_video", UserCommentedOnVideoPayload)
