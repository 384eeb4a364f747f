"""Loading an RPC's keyword arguments through its marshmallow schema."""

from marshmallow import Schema, ValidationError

from services.common.errors import InvalidArgument
from services.common.schemas import shared


def describe(messages) -> str:
    """marshmallow's nested messages ({0: ['Not a valid UUID.']}) as one readable line."""
    if isinstance(messages, dict):
        return "; ".join(f"item {key}: {describe(value)}" for key, value in messages.items())
    if isinstance(messages, list):
        return " ".join(describe(message) for message in messages)
    return str(messages)


def load(schema_class: type[Schema], **values) -> dict:
    """The validated request, or InvalidArgument naming the first offending field."""
    try:
        return shared(schema_class).load(values)
    except ValidationError as error:
        field, messages = min(error.normalized_messages().items())
        raise InvalidArgument(field, describe(messages)) from None
