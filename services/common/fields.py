"""marshmallow fields for KillrVideo's plain-data boundaries (RPC payloads and events)."""

from datetime import datetime

from marshmallow import ValidationError, fields, validate

from services.common.timestamps import to_millis

# Multi-get requests take 1 to 20 ids (the KillrVideo contract).
MAX_IDS_PER_REQUEST = 20
# Pages hold 1 to 100 items: the clients ask for at most 100.
MAX_PAGE_SIZE = 100


def page_size() -> fields.Integer:
    """How many items a page holds: 1 to MAX_PAGE_SIZE."""
    return fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


def paging_state() -> fields.String:
    """The opaque text a client echoes to get the next page ("" or absent for the first)."""
    return fields.String(load_default="", allow_none=True)


def id_list() -> fields.List:
    """The ids of a multi-get request: 1 to MAX_IDS_PER_REQUEST UUIDs."""
    return fields.List(
        fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_IDS_PER_REQUEST)
    )


class Timestamp(fields.Field):
    """A UTC instant as ISO-8601 text with milliseconds, e.g. ``2026-11-22T08:04:50.123Z``."""

    default_error_messages = {"invalid": "Not a valid ISO-8601 timestamp."}

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return to_millis(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, datetime):
            return to_millis(value)
        try:
            return to_millis(datetime.fromisoformat(value))
        except (TypeError, ValueError) as error:
            raise self.make_error("invalid") from error


class TimeUUID(fields.UUID):
    """A version-1 (time-based) UUID, as comment ids are."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.version != 1:
            raise ValidationError("Not a time-based (version 1) UUID.")
        return result
