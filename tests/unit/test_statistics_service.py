"""The statistics service's orchestration, with nameko's worker_factory (no broker, no
database)."""

import uuid

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import InvalidArgument
from services.statistics.service import StatisticsService
from tests.unit.fakes import FakeStatisticsRepository


@pytest.fixture
def service():
    return worker_factory(StatisticsService, repository=FakeStatisticsRepository())


def test_plays_are_answered_in_the_order_asked_with_none_for_an_unplayed_video(service):
    played, unplayed = str(uuid.uuid4()), str(uuid.uuid4())
    service.record_playback_started(video_id=played)
    service.record_playback_started(video_id=played)

    answer = service.get_number_of_plays(video_ids=[unplayed, played])

    assert answer == [{"video_id": unplayed, "views": 0}, {"video_id": played, "views": 2}]


def test_a_bad_video_id_is_named_and_counts_nothing(service):
    with pytest.raises(InvalidArgument) as error:
        service.record_playback_started(video_id="42")
    assert error.value.field == "video_id"
    assert service.repository.plays == {}


def test_too_many_ids_are_refused(service):
    with pytest.raises(InvalidArgument) as error:
        service.get_number_of_plays(video_ids=[str(uuid.uuid4()) for _ in range(21)])
    assert error.value.field == "video_ids"
