"""The users service: `nameko run services.users.service`."""

import logging

from marshmallow import ValidationError

from services.common.cassandra import CassandraRepository
from services.common.errors import AlreadyExists, Unauthenticated
from services.common.events import EventPublisher
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.timestamps import Clock
from services.common.tracing import Tracing
from services.users import schemas
from services.users.events import USER_CREATED
from services.users.passwords import (
    UNKNOWN_USER_HASH,
    hash_password,
    needs_rehash,
    password_matches,
)
from services.users.repository import UsersRepository

log = logging.getLogger(__name__)

# The clients match on this text.
ALREADY_EXISTS = "Exception creating user because it already exists"
# One answer for an unknown email and a wrong password, so accounts cannot be enumerated.
BAD_CREDENTIALS = "Email address or password are not correct"


class UsersService:
    name = "users"

    repository = CassandraRepository(UsersRepository)
    metrics = Metrics()
    tracing = Tracing()
    publish = EventPublisher()
    now = Clock()

    @rpc(schemas.CreateUserRequest)
    def create_user(self, user):
        """Register a user. Emails are unique, compared case-insensitively.

        Returns the new profile. Raises InvalidArgument (a field is missing or malformed) or
        AlreadyExists (the email, or the user id, is taken). The same registration made again
        (a retry, a redelivery) is answered as the first. Publishes `user_created`.
        """
        created = self.now()
        taken = self.repository.create(
            user,
            hash_password(user["password"]),
            created,
            holds_password=lambda stored: password_matches(stored, user["password"]),
        )
        if taken:
            raise AlreadyExists(f"{ALREADY_EXISTS} ({taken} is taken)")
        del user["password"]
        self.publish(USER_CREATED, {**user, "timestamp": created})
        return shared(schemas.UserProfile).dump(user)

    @rpc(schemas.VerifyCredentialsRequest)
    def verify_credentials(self, request):
        """The user id for this email and password; Unauthenticated otherwise."""
        try:
            email = schemas.Email().deserialize(request["email"])
        except ValidationError:
            email = None
        credentials = email and self.repository.credentials(email)
        if not credentials:
            password_matches(UNKNOWN_USER_HASH, request["password"])
            raise Unauthenticated(BAD_CREDENTIALS)
        if not password_matches(credentials.password, request["password"]):
            raise Unauthenticated(BAD_CREDENTIALS)
        if needs_rehash(credentials.password):
            self.repository.replace_password_hash(
                credentials.email, credentials.userid, hash_password(request["password"])
            )
        return shared(schemas.Credentials).dump({"user_id": credentials.userid})

    @rpc(schemas.GetUserProfilesRequest)
    def get_user_profiles(self, request):
        """Profiles of the given user ids (1 to 20) that exist, in the order asked."""
        profiles = self.repository.profiles(request["user_ids"])
        return shared(schemas.UserProfile, many=True).dump(profiles)
