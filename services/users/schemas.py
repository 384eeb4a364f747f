"""The users service's boundaries: RPC requests and replies, as marshmallow schemas."""

from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate

from services.common.fields import id_list

# Bounds on what one request may store or make us hash; generous for people, small for abuse.
MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 256


class Email(fields.String):
    """A well-formed address, normalised and lower-cased (emails compare case-insensitively)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_EMAIL_LENGTH:
            raise ValidationError(f"Longer than {MAX_EMAIL_LENGTH} characters.")
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise ValidationError(f"Not a valid email address: {error}") from None


def required_text(max_length: int) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length))


class CreateUserRequest(Schema):
    user_id = fields.UUID(required=True)
    first_name = required_text(MAX_NAME_LENGTH)
    last_name = required_text(MAX_NAME_LENGTH)
    email = Email(required=True)
    password = required_text(MAX_PASSWORD_LENGTH)


class VerifyCredentialsRequest(Schema):
    # Not validated as an address: an unknown email must get the same answer as a wrong password.
    email = required_text(MAX_EMAIL_LENGTH)
    password = required_text(MAX_PASSWORD_LENGTH)


class GetUserProfilesRequest(Schema):
    user_ids = id_list()


class UserProfile(Schema):
    user_id = fields.UUID()
    first_name = fields.String()
    last_name = fields.String()
    email = fields.String()


class Credentials(Schema):
    user_id = fields.UUID()
