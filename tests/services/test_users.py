"""The users service over real nameko RPC, on RabbitMQ and localcql."""

import logging
import uuid

import eventlet
import pytest
from argon2 import PasswordHasher

from services.common.errors import AlreadyExists, InvalidArgument, Unauthenticated
from services.users import passwords
from services.users.service import ALREADY_EXISTS, BAD_CREDENTIALS, UsersService

OWASP_ARGON2ID = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture
def users(start_services, rpc_client):
    start_services(UsersService)
    return rpc_client("users")


def new_user(**overrides):
    return {
        "user_id": str(uuid.uuid4()),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"ada.{uuid.uuid4().hex[:8]}@example.com",
        "password": "correct horse battery staple",
        **overrides,
    }


def test_a_created_user_can_sign_in_and_has_a_profile(users):
    user = new_user()
    profile = users.create_user(**user)
    assert profile == {k: user[k] for k in ("user_id", "first_name", "last_name", "email")}

    assert users.verify_credentials(email=user["email"], password=user["password"]) == {
        "user_id": user["user_id"]
    }
    assert users.get_user_profiles(user_ids=[user["user_id"]]) == [profile]


def test_user_created_is_published_after_the_write(users, expect_event):
    user = new_user()
    with expect_event("users", "user_created") as event:
        users.create_user(**user)
    payload = event.get()
    assert {k: payload[k] for k in ("user_id", "first_name", "last_name", "email")} == {
        k: user[k] for k in ("user_id", "first_name", "last_name", "email")
    }
    assert payload["timestamp"].endswith("Z")
    assert "password" not in payload


def test_emails_are_unique_case_insensitively(users):
    user = new_user(email="Grace.Hopper@Example.com")
    users.create_user(**user)
    with pytest.raises(AlreadyExists, match=ALREADY_EXISTS):
        users.create_user(**new_user(email="grace.hopper@example.COM"))
    assert users.verify_credentials(email="GRACE.HOPPER@example.com", password=user["password"])


def test_of_two_concurrent_registrations_of_one_email_exactly_one_succeeds(users):
    email = f"race.{uuid.uuid4().hex[:8]}@example.com"
    replies = [users.create_user.call_async(**new_user(email=email)) for _ in range(2)]
    outcomes = []
    for reply in replies:
        try:
            reply.result()
            outcomes.append("created")
        except AlreadyExists:
            outcomes.append("exists")
    assert sorted(outcomes) == ["created", "exists"]


def test_a_taken_user_id_is_refused_and_leaves_the_email_free(users):
    first = new_user()
    users.create_user(**first)
    second = new_user(user_id=first["user_id"])
    with pytest.raises(AlreadyExists, match=ALREADY_EXISTS):
        users.create_user(**second)
    # the email claimed for the refused account was given back
    users.create_user(**{**second, "user_id": str(uuid.uuid4())})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", "not-a-uuid"),
        ("user_id", None),
        ("first_name", ""),
        ("last_name", "x" * 101),
        ("email", "not an email"),
        ("email", "a@" + "b" * 250 + ".com"),
        ("password", ""),
        ("password", "p" * 257),
    ],
)
def test_invalid_fields_are_named(users, field, value):
    with pytest.raises(InvalidArgument) as error:
        users.create_user(**new_user(**{field: value}))
    assert error.value.field == field


def test_wrong_password_and_unknown_email_get_the_same_answer(users):
    user = new_user()
    users.create_user(**user)
    with pytest.raises(Unauthenticated) as wrong_password:
        users.verify_credentials(email=user["email"], password="not it")
    with pytest.raises(Unauthenticated) as unknown_email:
        users.verify_credentials(email="nobody@example.com", password=user["password"])
    with pytest.raises(Unauthenticated) as malformed_email:
        users.verify_credentials(email="nobody", password=user["password"])
    assert str(wrong_password.value) == str(unknown_email.value) == str(malformed_email.value)
    assert str(unknown_email.value) == BAD_CREDENTIALS


def test_passwords_are_stored_as_salted_argon2id_hashes(users, cql):
    password = "the same password"
    emails = []
    for _ in range(2):
        user = new_user(password=password)
        users.create_user(**user)
        emails.append(user["email"])
    stored = [
        cql.execute("SELECT password FROM user_credentials WHERE email = %s", (email,)).one()
        for email in emails
    ]
    hashes = [row.password for row in stored]
    assert all(h.startswith(OWASP_ARGON2ID) for h in hashes)
    assert all(password not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted


def stored_hash(cql, email):
    return cql.execute("SELECT password FROM user_credentials WHERE email = %s", (email,)).one()[0]


def test_a_hash_made_under_other_parameters_verifies_and_is_replaced_at_sign_in(users, cql):
    user = new_user()
    users.create_user(**user)
    older = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)  # argon2-cffi's
    cql.execute(
        "UPDATE user_credentials SET password = %s WHERE email = %s",
        (older.hash(user["password"]), user["email"]),
    )
    assert users.verify_credentials(email=user["email"], password=user["password"])
    assert stored_hash(cql, user["email"]).startswith(OWASP_ARGON2ID)
    assert users.verify_credentials(email=user["email"], password=user["password"])


class ThreadRecordingHasher(PasswordHasher):
    """Today's hasher, noting the OS thread of each hash and check."""

    def __init__(self, threads: list):
        super().__init__(
            time_cost=passwords.hasher.time_cost,
            memory_cost=passwords.hasher.memory_cost,
            parallelism=passwords.hasher.parallelism,
        )
        self.threads = threads

    def hash(self, password, **kwargs):
        self.threads.append(eventlet.patcher.original("threading").get_ident())
        return super().hash(password, **kwargs)

    def verify(self, password_hash, password):
        self.threads.append(eventlet.patcher.original("threading").get_ident())
        return super().verify(password_hash, password)


def test_passwords_are_hashed_and_checked_off_the_event_loop(users, monkeypatch):
    threads = []
    monkeypatch.setattr(passwords, "hasher", ThreadRecordingHasher(threads))
    user = new_user()
    users.create_user(**user)
    users.verify_credentials(email=user["email"], password=user["password"])
    with pytest.raises(Unauthenticated):
        users.verify_credentials(email="nobody@example.com", password=user["password"])

    assert len(threads) == 3
    # The service runs in this process, on the hub of its main OS thread.
    assert eventlet.patcher.original("threading").get_ident() not in threads


def test_profiles_of_known_ids_in_the_order_asked(users):
    first, second = new_user(), new_user()
    users.create_user(**first)
    users.create_user(**second)
    unknown = str(uuid.uuid4())
    profiles = users.get_user_profiles(user_ids=[second["user_id"], unknown, first["user_id"]])
    assert [p["user_id"] for p in profiles] == [second["user_id"], first["user_id"]]


@pytest.mark.parametrize("count", [0, 21])
def test_profiles_take_one_to_twenty_ids(users, count):
    with pytest.raises(InvalidArgument) as error:
        users.get_user_profiles(user_ids=[str(uuid.uuid4()) for _ in range(count)])
    assert error.value.field == "user_ids"


def test_no_password_or_hash_reaches_any_log_line(users, cql, caplog):
    caplog.set_level(logging.DEBUG)
    user = new_user(password="a very secret passphrase")
    users.create_user(**user)
    users.verify_credentials(email=user["email"], password=user["password"])
    with pytest.raises(Unauthenticated):
        users.verify_credentials(email=user["email"], password="another secret guess")
    with pytest.raises(InvalidArgument):
        users.create_user(**new_user(email="not an email", password="a very secret passphrase"))
    stored = cql.execute(
        "SELECT password FROM user_credentials WHERE email = %s", (user["email"],)
    ).one()

    assert caplog.records, "DEBUG logging of the service and its libraries was captured"
    logged = caplog.text
    for secret in ("a very secret passphrase", "another secret guess", stored.password):
        assert secret not in logged
    # A refused request is an answer, not a fault of the service.
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_the_same_registration_made_again_is_answered_as_the_first(users):
    # As when a broker node lost the first's reply and the request was delivered again.
    user = new_user()
    first = users.create_user(**user)
    assert users.create_user(**user) == first
    assert users.verify_credentials(email=user["email"], password=user["password"])


def test_the_same_user_id_and_email_with_another_password_is_refused(users):
    user = new_user()
    users.create_user(**user)
    with pytest.raises(AlreadyExists, match=ALREADY_EXISTS):
        users.create_user(**{**user, "password": "another password altogether"})
    assert users.verify_credentials(email=user["email"], password=user["password"])


def test_a_registration_made_again_finishes_what_the_first_left_half_written(users, cql):
    user = new_user()
    users.create_user(**user)
    # The first claimed the email and died before the user's row was written.
    cql.execute("DELETE FROM users WHERE userid = %s", (uuid.UUID(user["user_id"]),))

    profile = users.create_user(**user)

    assert users.get_user_profiles(user_ids=[user["user_id"]]) == [profile]
