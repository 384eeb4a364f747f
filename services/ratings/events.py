"""Events the ratings service publishes (documented in docs/events.md)."""

from marshmallow import Schema, fields

from services.common.events import Event
from services.common.fields import Timestamp


class UserRatedVideoPayload(Schema):
    video_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    rating = fields.Integer(required=True)
    rating_timestamp = Timestamp(required=True)


USER_RATED_VIDEO = Event("user_rated_video", UserRatedVideoPayload)
