"""Protobuf messages ↔ the plain data of the domain services' RPCs, for every KillrVideo message.

The conversion follows each message's descriptor, field by field, and the names match on both
sides (a request's fields are its RPC's keyword arguments; a reply's keys are its response's
fields), so no RPC needs code of its own:

| protobuf                            | plain data                                            |
|-------------------------------------|-------------------------------------------------------|
| killrvideo.common.Uuid / TimeUuid   | canonical id text                                     |
| google.protobuf.Timestamp           | ISO-8601 UTC text with milliseconds (…T08:04:50.123Z) |
| enum                                | its number (a reply may also give its name)           |
| repeated field / nested message     | list / dict                                           |
| string, integer, bool               | itself                                                |
"""

from datetime import UTC, datetime

from google.protobuf.descriptor import FieldDescriptor

from services.common.errors import InvalidArgument

ID_WRAPPERS = frozenset({"killrvideo.common.Uuid", "killrvideo.common.TimeUuid"})
TIMESTAMP = "google.protobuf.Timestamp"

# A request may leave out a list's starting point; every other id in a request is required.
OPTIONAL_FIELDS = frozenset({"starting_added_date", "starting_video_id", "starting_comment_id"})


def timestamp_text(timestamp) -> str:
    moment = timestamp.ToDatetime(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_to_kwargs(request) -> dict:
    """A request message as its RPC's keyword arguments; InvalidArgument for a missing id."""
    return {field.name: _read_field(request, field) for field in request.DESCRIPTOR.fields}


def _read_field(message, field: FieldDescriptor):
    value = getattr(message, field.name)
    if field.is_repeated:
        return [_plain(field, item) for item in value]
    if field.message_type is not None and _is_absent(message, field):
        if field.name in OPTIONAL_FIELDS:
            return None
        raise InvalidArgument(field.name, "is required")
    return _plain(field, value)


def _is_absent(message, field: FieldDescriptor) -> bool:
    if not message.HasField(field.name):
        return True
    # An id wrapper holding "" is how many clients leave an id out.
    return field.message_type.full_name in ID_WRAPPERS and not getattr(message, field.name).value


def _plain(field: FieldDescriptor, value):
    if field.message_type is None:
        return value
    name = field.message_type.full_name
    if name in ID_WRAPPERS:
        return value.value
    if name == TIMESTAMP:
        try:
            return timestamp_text(value)
        except (ValueError, OverflowError):  # outside the years 1 to 9999
            raise InvalidArgument(field.name, "is not a valid timestamp") from None
    return request_to_kwargs(value)


def message_from_data(message_class, data: dict):
    """A response message holding `data`. Keys the message has no field for are ignored: a reply
    may say more than the contract (CreateUser's reply is the new profile, its response empty)."""
    message = message_class()
    _fill(message, data)
    return message


def _fill(message, data: dict) -> None:
    for field in message.DESCRIPTOR.fields:
        value = data.get(field.name)
        if value is None:
            continue
        target = getattr(message, field.name)
        if field.is_repeated and field.message_type is not None:
            for item in value:
                _fill_message(target.add(), item)
        elif field.is_repeated:
            target.extend(value)
        elif field.message_type is not None:
            target.SetInParent()
            _fill_message(target, value)
        elif field.enum_type is not None and isinstance(value, str):
            setattr(message, field.name, field.enum_type.values_by_name[value].number)
        else:
            setattr(message, field.name, value)


def _fill_message(message, value) -> None:
    name = message.DESCRIPTOR.full_name
    if name in ID_WRAPPERS:
        message.value = value
    elif name == TIMESTAMP:
        message.FromDatetime(datetime.fromisoformat(value))
    else:
        _fill(message, value)
