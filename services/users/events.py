"""Events the users service publishes (documented in docs/events.md)."""

from marshmallow import Schema, fields

from services.common.events import Event
from services.common.fields import Timestamp


class UserCreatedPayload(Schema):
    user_id = fields.UUID(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    email = fields.String(required=True)
    timestamp = Timestamp(required=True)


USER_CREATED = Event("user_created", UserCreatedPayload)
