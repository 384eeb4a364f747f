"""The users service's orchestration, with nameko's worker_factory (no broker, no database).

Passwords are hashed for real (argon2id, services.users.passwords), under parameters cheap
enough for a fast test: the service's rules around the hash are what is tested here."""

import uuid
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from nameko.testing.services import worker_factory

from services.common.errors import AlreadyExists, InvalidArgument, Unauthenticated
from services.users import passwords
from services.users.service import ALREADY_EXISTS, BAD_CREDENTIALS, UsersService
from tests.unit.fakes import FakeUsersRepository, FixedClock, PublishedEvents

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def cheap_hasher(time_cost=1) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    monkeypatch.setattr(passwords, "hasher", cheap_hasher())


@pytest.fixture
def service():
    return worker_factory(
        UsersService,
        repository=FakeUsersRepository(),
        publish=PublishedEvents(),
        now=FixedClock(NOW),
    )


def sign_up(service, **changes) -> tuple[dict, dict]:
    request = {
        "user_id": str(uuid.uuid4()),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada@Example.COM",
        "password": "correct horse",
        **changes,
    }
    return request, service.create_user(**request)


def test_a_new_user_is_stored_with_a_hash_of_the_password_and_announced_without_it(service):
    request, answer = sign_up(service)

    stored = service.repository.credentials("ada@example.com")  # compared lower-cased
    assert stored.userid == uuid.UUID(request["user_id"])
    assert stored.password != request["password"]
    assert passwords.hasher.verify(stored.password, request["password"])
    assert answer == {
        "user_id": request["user_id"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
    }
    assert service.publish.named("user_created") == [
        {**answer, "timestamp": "2026-12-07T18:00:00.000Z"}
    ]


def test_a_taken_email_in_other_case_is_refused_and_announced_nowhere(service):
    sign_up(service)
    with pytest.raises(AlreadyExists) as error:
        sign_up(service, email="ADA@example.com")
    assert str(error.value) == f"{ALREADY_EXISTS} (email is taken)"
    assert len(service.publish) == 1


def test_a_registration_made_again_is_answered_as_the_first_unless_its_password_differs(service):
    request, first = sign_up(service)
    assert service.create_user(**request) == first  # a retry, or a redelivered request
    with pytest.raises(AlreadyExists):
        service.create_user(**{**request, "password": "another password"})


@pytest.mark.parametrize(
    "field, value", [("email", "not an address"), ("password", ""), ("user_id", "42")]
)
def test_a_bad_field_is_named_and_nothing_is_stored(service, field, value):
    with pytest.raises(InvalidArgument) as error:
        sign_up(service, **{field: value})
    assert error.value.field == field
    assert service.repository.users == {}
    assert service.publish == []


def test_the_right_password_answers_the_user_id_whatever_the_email_s_case(service):
    request, _ = sign_up(service)
    answer = service.verify_credentials(email="ADA@example.com", password="correct horse")
    assert answer == {"user_id": request["user_id"]}


@pytest.mark.parametrize(
    "email, password",
    [
        ("ada@example.com", "wrong horse"),
        ("bob@example.com", "correct horse"),  # unknown
        ("not an address", "correct horse"),  # not refused as malformed: it would tell
    ],
)
def test_every_failed_sign_in_gets_the_same_answer(service, email, password):
    sign_up(service)
    with pytest.raises(Unauthenticated) as error:
        service.verify_credentials(email=email, password=password)
    assert str(error.value) == BAD_CREDENTIALS


def test_a_hash_under_old_parameters_is_replaced_at_the_next_successful_sign_in(
    service, monkeypatch
):
    monkeypatch.setattr(passwords, "hasher", cheap_hasher(time_cost=2))  # yesterday's
    sign_up(service)
    old_hash = service.repository.credentials("ada@example.com").password
    monkeypatch.setattr(passwords, "hasher", cheap_hasher(time_cost=1))  # today's

    with pytest.raises(Unauthenticated):
        service.verify_credentials(email="ada@example.com", password="wrong horse")
    assert service.repository.credentials("ada@example.com").password == old_hash

    service.verify_credentials(email="ada@example.com", password="correct horse")
    new_hash = service.repository.credentials("ada@example.com").password
    assert new_hash != old_hash
    assert not passwords.needs_rehash(new_hash)
    assert passwords.password_matches(new_hash, "correct horse")


def test_profiles_are_answered_in_the_order_asked_without_unknown_users(service):
    first, _ = sign_up(service, email="first@example.com")
    second, _ = sign_up(service, email="second@example.com")

    profiles = service.get_user_profiles(
        user_ids=[second["user_id"], str(uuid.uuid4()), first["user_id"]]
    )

    assert [profile["email"] for profile in profiles] == [
        "second@example.com",
        "first@example.com",
    ]
