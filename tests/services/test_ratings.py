"""The ratings service over real nameko RPC, on RabbitMQ and localcql."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import eventlet
import pytest
from cassandra import WriteTimeout, WriteType
from cassandra.util import uuid_from_time

from services.common.cassandra import CassandraRepository
from services.common.errors import BackendUnavailable, InvalidArgument
from services.ratings.repository import MOVE_LEASE_SECONDS, RatingsRepository
from services.ratings.service import RatingsService

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ratings(start_services, rpc_client):
    start_services(RatingsService)
    return rpc_client("ratings")


def test_an_unrated_video_has_zero_ratings(ratings):
    video_id = str(uuid.uuid4())
    assert ratings.get_rating(video_id=video_id) == {
        "video_id": video_id,
        "ratings_count": 0,
        "ratings_total": 0,
    }
    user_id = str(uuid.uuid4())
    assert ratings.get_user_rating(video_id=video_id, user_id=user_id) == {
        "video_id": video_id,
        "user_id": user_id,
        "rating": 0,
    }


def test_ratings_are_counted_and_summed(ratings):
    video_id = str(uuid.uuid4())
    for stars in (5, 3):
        ratings.rate_video(video_id=video_id, user_id=str(uuid.uuid4()), rating=stars)
    assert ratings.get_rating(video_id=video_id)["ratings_count"] == 2
    assert ratings.get_rating(video_id=video_id)["ratings_total"] == 8


def test_rating_again_replaces_the_users_rating(ratings):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    ratings.rate_video(video_id=video_id, user_id=user_id, rating=2)
    ratings.rate_video(video_id=video_id, user_id=str(uuid.uuid4()), rating=4)
    ratings.rate_video(video_id=video_id, user_id=user_id, rating=5)
    ratings.rate_video(video_id=video_id, user_id=user_id, rating=5)

    assert ratings.get_user_rating(video_id=video_id, user_id=user_id)["rating"] == 5
    rating = ratings.get_rating(video_id=video_id)
    assert (rating["ratings_count"], rating["ratings_total"]) == (2, 9)


def test_concurrent_re_ratings_by_one_user_keep_the_totals_right(ratings):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    replies = [
        ratings.rate_video.call_async(video_id=video_id, user_id=user_id, rating=stars)
        for stars in (1, 2, 3, 4, 5, 1, 2, 3)
    ]
    for reply in replies:
        reply.result()
    final = ratings.get_user_rating(video_id=video_id, user_id=user_id)["rating"]
    assert ratings.get_rating(video_id=video_id) == {
        "video_id": video_id,
        "ratings_count": 1,
        "ratings_total": final,
    }


def test_user_rated_video_is_published(ratings, expect_event):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    with expect_event("ratings", "user_rated_video") as event:
        ratings.rate_video(video_id=video_id, user_id=user_id, rating=4)
    payload = event.get()
    assert {k: payload[k] for k in ("video_id", "user_id", "rating")} == {
        "video_id": video_id,
        "user_id": user_id,
        "rating": 4,
    }
    assert payload["rating_timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("field", "value"),
    [("rating", 0), ("rating", 6), ("rating", "5"), ("rating", None), ("video_id", "nope")],
)
def test_invalid_ratings_are_refused(ratings, field, value):
    request = {"video_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "rating": 3}
    with pytest.raises(InvalidArgument) as error:
        ratings.rate_video(**{**request, field: value})
    assert error.value.field == field


class FailingCounterWrites:
    """The repository's session, with a fault injected: the next `failures` counter writes raise
    the driver's WriteTimeout, after reaching the database if `applied` (a timeout whose write
    landed anyway) or before."""

    failures = 0
    applied = False

    def __init__(self, session):
        self.session = session

    def prepare(self, query):
        return self.session.prepare(query)

    def execute(self, statement, params=None):
        is_counter_write = statement.query_string.startswith("UPDATE video_ratings SET")
        if is_counter_write and FailingCounterWrites.failures > 0:
            FailingCounterWrites.failures -= 1
            if FailingCounterWrites.applied:
                self.session.execute(statement, params)
            raise WriteTimeout("Operation timed out", write_type=WriteType.COUNTER)
        return self.session.execute(statement, params)


class RatingsWithFailingCounterWrites(RatingsService):
    repository = CassandraRepository(
        lambda session: RatingsRepository(FailingCounterWrites(session))
    )


@pytest.fixture
def faulty_ratings(start_services, rpc_client):
    FailingCounterWrites.failures, FailingCounterWrites.applied = 0, False
    start_services(RatingsWithFailingCounterWrites)
    return rpc_client("ratings")


def test_a_retry_repairs_the_counters_after_a_counter_write_failed(faulty_ratings):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    FailingCounterWrites.failures = 1
    with pytest.raises(BackendUnavailable):
        faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=4)
    # The rating was recorded, the counters were not moved.
    assert faulty_ratings.get_user_rating(video_id=video_id, user_id=user_id)["rating"] == 4
    assert faulty_ratings.get_rating(video_id=video_id)["ratings_count"] == 0

    faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=4)
    rating = faulty_ratings.get_rating(video_id=video_id)
    assert (rating["ratings_count"], rating["ratings_total"]) == (1, 4)


def test_another_rating_by_the_user_carries_out_the_failed_move_first(faulty_ratings):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=2)
    FailingCounterWrites.failures = 1
    with pytest.raises(BackendUnavailable):
        faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=5)
    faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=3)
    rating = faulty_ratings.get_rating(video_id=video_id)
    assert (rating["ratings_count"], rating["ratings_total"]) == (1, 3)


def test_a_move_left_by_a_caller_that_died_is_carried_out_once_its_lease_has_passed(ratings, cql):
    video_id, user_id = uuid.uuid4(), uuid.uuid4()
    # What a service killed between the rating row and the counters leaves behind.
    dead_callers_claim = uuid_from_time(time.time() - MOVE_LEASE_SECONDS - 1)
    cql.execute(
        "INSERT INTO video_rating_moves (videoid, userid, from_rating, to_rating, claim) "
        "VALUES (%s, %s, 0, 4, %s)",
        (video_id, user_id, dead_callers_claim),
    )
    cql.execute(
        "INSERT INTO video_ratings_by_user (videoid, userid, rating) VALUES (%s, %s, 4)",
        (video_id, user_id),
    )
    ratings.rate_video(video_id=str(video_id), user_id=str(user_id), rating=4)
    rating = ratings.get_rating(video_id=str(video_id))
    assert (rating["ratings_count"], rating["ratings_total"]) == (1, 4)
    assert (
        cql.execute("SELECT * FROM video_rating_moves WHERE videoid = %s", (video_id,)).one()
        is None
    )


def test_a_rating_waits_for_a_live_move_of_the_same_user_then_gives_up(ratings, cql):
    video_id, user_id = uuid.uuid4(), uuid.uuid4()
    cql.execute(
        "INSERT INTO video_rating_moves (videoid, userid, to_rating, claim) VALUES (%s, %s, 4, %s)",
        (video_id, user_id, uuid_from_time(time.time())),
    )
    with pytest.raises(BackendUnavailable):
        ratings.rate_video(video_id=str(video_id), user_id=str(user_id), rating=2)
    assert ratings.get_user_rating(video_id=str(video_id), user_id=str(user_id))["rating"] == 0


def reconcile_command(cassandra_config, *video_ids):
    env = {
        **os.environ,
        "CASSANDRA_CONTACT_POINTS": cassandra_config["contact_points"],
        "CASSANDRA_PORT": str(cassandra_config["port"]),
        "CASSANDRA_KEYSPACE": cassandra_config["keyspace"],
    }
    return subprocess.run(
        [sys.executable, "-m", "services.ratings.reconcile", *map(str, video_ids)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_the_reconcile_command_fixes_counters_that_disagree_with_the_rating_rows(
    ratings, cql, cassandra_config
):
    short, over, right = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for video_id in (short, over, right):
        for stars in (5, 2):
            ratings.rate_video(video_id=str(video_id), user_id=str(uuid.uuid4()), rating=stars)
    # Seeded mismatches: a rating the counters missed, and one they counted twice.
    cql.execute(
        "INSERT INTO video_ratings_by_user (videoid, userid, rating) VALUES (%s, %s, 3)",
        (short, uuid.uuid4()),
    )
    cql.execute(
        "UPDATE video_ratings SET rating_counter = rating_counter + 1, "
        "rating_total = rating_total + 4 WHERE videoid = %s",
        (over,),
    )

    out = reconcile_command(cassandra_config, short, over, right)

    assert out.splitlines() == [
        f"{short}: counters said 2 rating(s), total 7; corrected to 3, total 10",
        f"{over}: counters said 3 rating(s), total 11; corrected to 2, total 7",
        f"{right}: 2 rating(s), total 7: already right",
    ]
    for video_id, expected in ((short, (3, 10)), (over, (2, 7)), (right, (2, 7))):
        rating = ratings.get_rating(video_id=str(video_id))
        assert (rating["ratings_count"], rating["ratings_total"]) == expected


def test_a_counter_write_that_timed_out_yet_landed_is_counted_twice_until_reconciled(
    faulty_ratings, cassandra_config
):
    """The documented limit (docs/reliability.md): a move is carried out at least once."""
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    FailingCounterWrites.failures, FailingCounterWrites.applied = 1, True
    with pytest.raises(BackendUnavailable):
        faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=4)
    faulty_ratings.rate_video(video_id=video_id, user_id=user_id, rating=4)
    assert faulty_ratings.get_rating(video_id=video_id)["ratings_count"] == 2

    reconcile_command(cassandra_config, video_id)
    rating = faulty_ratings.get_rating(video_id=video_id)
    assert (rating["ratings_count"], rating["ratings_total"]) == (1, 4)


def test_reconciles_racing_ratings_leave_the_counters_right(ratings, cql):
    video_id = uuid.uuid4()
    users = [str(uuid.uuid4()) for _ in range(6)]

    def rate_and_rerate():
        replies = [
            ratings.rate_video.call_async(video_id=str(video_id), user_id=user, rating=stars)
            for stars in (1, 4, 2, 5, 3)
            for user in users
        ]
        for reply in replies:
            reply.result()

    # Ratings and re-ratings arrive while reconciles run: each counts at a quiet moment only.
    rating_calls = eventlet.spawn(rate_and_rerate)
    repository = RatingsRepository(cql)
    reconciles = 0
    while not rating_calls.dead or reconciles == 0:
        repository.reconcile(video_id)
        reconciles += 1
    rating_calls.wait()
    stored = [
        ratings.get_user_rating(video_id=str(video_id), user_id=user)["rating"] for user in users
    ]
    assert repository.totals(video_id) == (len(users), sum(stored))
