"""The ratings service's orchestration, with nameko's worker_factory (no broker, no database)."""

import uuid
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import InvalidArgument
from services.ratings.service import RatingsService
from tests.unit.fakes import FakeRatingsRepository, FixedClock, PublishedEvents

NOW = datetime(2026, 12, 7, 18, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def service():
    return worker_factory(
        RatingsService,
        repository=FakeRatingsRepository(),
        publish=PublishedEvents(),
        now=FixedClock(NOW),
    )


def test_a_rating_is_stored_answered_and_announced_at_the_clock_s_time(service):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())

    answer = service.rate_video(video_id=video_id, user_id=user_id, rating=4)

    assert service.repository.ratings == {(uuid.UUID(video_id), uuid.UUID(user_id)): 4}
    assert answer == {"video_id": video_id, "user_id": user_id, "rating": 4}
    assert service.publish.named("user_rated_video") == [
        {**answer, "rating_timestamp": "2026-12-07T18:00:00.250Z"}
    ]


def test_the_totals_and_a_user_s_rating_are_answered_from_the_repository(service):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    service.rate_video(video_id=video_id, user_id=user_id, rating=2)
    service.rate_video(video_id=video_id, user_id=str(uuid.uuid4()), rating=5)
    service.rate_video(video_id=video_id, user_id=user_id, rating=3)  # replaces the 2

    assert service.get_rating(video_id=video_id) == {
        "video_id": video_id,
        "ratings_count": 2,
        "ratings_total": 8,
    }
    assert service.get_user_rating(video_id=video_id, user_id=user_id)["rating"] == 3


def test_an_unrated_video_has_zero_ratings_and_a_user_who_did_not_rate_it_zero_stars(service):
    video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert service.get_rating(video_id=video_id)["ratings_count"] == 0
    assert service.get_user_rating(video_id=video_id, user_id=user_id) == {
        "video_id": video_id,
        "user_id": user_id,
        "rating": 0,
    }


@pytest.mark.parametrize(
    "field, value", [("rating", 0), ("rating", 6), ("rating", "5"), ("user_id", "me")]
)
def test_a_bad_rating_is_named_stored_nowhere_and_announced_nowhere(service, field, value):
    request = {"video_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "rating": 5}
    with pytest.raises(InvalidArgument) as error:
        service.rate_video(**{**request, field: value})
    assert error.value.field == field
    assert service.repository.ratings == {}
    assert service.publish == []
