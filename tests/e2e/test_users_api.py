"""UserManagementService through the gateway: every RPC and every error status it can give."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from grpc import StatusCode

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.user_management.user_management_service_pb2 import (
    CreateUserRequest,
    GetUserProfileRequest,
    VerifyCredentialsRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id

CONCURRENT_SIGN_UPS = 16


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


def sign_up_request() -> CreateUserRequest:
    return CreateUserRequest(
        user_id=new_id(),
        first_name="Grace",
        last_name="Hopper",
        email=f"grace.{uuid.uuid4().hex[:10]}@example.com",
        password="correct horse battery staple",
    )


def test_16_concurrent_sign_ups_succeed_while_profiles_are_still_answered(api, user):
    """Each call has the stack's RPC timeout between the gateway and the users service."""
    signing_up = threading.Event()
    profiles_answered = []

    def read_profiles():
        request = GetUserProfileRequest(user_ids=[user.user_id])
        while True:  # at least once, and until the sign-ups are over
            reply = api.users.GetUserProfile(request, timeout=CALL_TIMEOUT)
            profiles_answered.append(reply.profiles[0].user_id == user.user_id)
            if not signing_up.is_set():
                return

    requests = [sign_up_request() for _ in range(CONCURRENT_SIGN_UPS)]
    signing_up.set()
    with ThreadPoolExecutor(CONCURRENT_SIGN_UPS + 1) as callers:
        reader = callers.submit(read_profiles)
        try:
            sign_ups = [
                callers.submit(api.users.CreateUser, request, timeout=CALL_TIMEOUT)
                for request in requests
            ]
            for sign_up in sign_ups:
                sign_up.result()  # raises the call's error, if any
        finally:
            signing_up.clear()
        reader.result()
    for request in requests:
        signed_in = api.users.VerifyCredentials(
            VerifyCredentialsRequest(email=request.email, password=request.password),
            timeout=CALL_TIMEOUT,
        )
        assert signed_in.user_id == request.user_id
    assert profiles_answered
    assert all(profiles_answered)
