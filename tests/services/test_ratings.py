"""The ratings service over real nameko RPC, on RabbitMQ and localcql."""

import uuid

import pytest

from services.common.errors import InvalidArgument
from services.ratings.service import RatingsService


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
