"""UserManagementService through the gateway: every RPC and every error status it can give."""

import uuid

from grpc import StatusCode

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.user_management.user_management_service_pb2 import (
    CreateUserRequest,
    GetUserProfileRequest,
    VerifyCredentialsRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id


def test_a_registered_user_signs_in_and_has_a_profile(api, user):
    signed_in = api.users.VerifyCredentials(
        VerifyCredentialsRequest(email=user.email, password=user.password), timeout=CALL_TIMEOUT
    )
    assert signed_in.user_id == user.user_id

    reply = api.users.GetUserProfile(
        GetUserProfileRequest(user_ids=[user.user_id, new_id()]), timeout=CALL_TIMEOUT
    )
    [profile] = reply.profiles  # the unknown id is simply omitted
    assert (profile.user_id, profile.first_name, profile.last_name, profile.email) == (
        user.user_id,
        user.first_name,
        user.last_name,
        user.email,
    )


def test_an_email_registers_once(api, user):
    again = CreateUserRequest()
    again.CopyFrom(user)
    again.user_id.value = str(uuid.uuid4())
    again.email = user.email.upper()
    error = failure(api.users.CreateUser, again)
    assert error.code() == StatusCode.ALREADY_EXISTS
    assert "Exception creating user because it already exists" in error.details()


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(api, user):
    wrong_password = failure(
        api.users.VerifyCredentials,
        VerifyCredentialsRequest(email=user.email, password="not it"),
    )
    unknown_email = failure(
        api.users.VerifyCredentials,
        VerifyCredentialsRequest(email="nobody@example.com", password=user.password),
    )
    assert wrong_password.code() == unknown_email.code() == StatusCode.UNAUTHENTICATED
    assert wrong_password.details() == unknown_email.details()


def test_a_missing_field_is_named(api, user):
    without_id = CreateUserRequest()
    without_id.CopyFrom(user)
    without_id.ClearField("user_id")
    error = failure(api.users.CreateUser, without_id)
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert "user_id" in error.details()

    bad_email = CreateUserRequest()
    bad_email.CopyFrom(user)
    bad_email.user_id.value = str(uuid.uuid4())
    bad_email.email = "not an address"
    error = failure(api.users.CreateUser, bad_email)
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert "email" in error.details()


def test_profiles_are_asked_for_1_to_20_at_a_time(api):
    for ids in ([], [new_id() for _ in range(21)]):
        error = failure(api.users.GetUserProfile, GetUserProfileRequest(user_ids=ids))
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "user_ids" in error.details()


def test_malformed_ids_are_invalid_arguments(api):
    for text in ("not-a-uuid", "", "x" * 1000):
        error = failure(
            api.users.GetUserProfile, GetUserProfileRequest(user_ids=[Uuid(value=text)])
        )
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "user_ids" in error.details()
