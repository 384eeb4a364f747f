"""The statistics service over real nameko RPC, on RabbitMQ and localcql."""

import uuid

import pytest

from services.common.errors import InvalidArgument
from services.common.fields import MAX_IDS_PER_REQUEST
from services.statistics.service import StatisticsService


@pytest.fixture
def statistics(start_services, rpc_client):
    start_services(StatisticsService)
    return rpc_client("statistics")


def test_plays_are_counted_per_video_in_the_order_asked(statistics):
    watched, twice, unknown = (str(uuid.uuid4()) for _ in range(3))
    for video_id in (watched, twice, twice):
        assert statistics.record_playback_started(video_id=video_id) == {}

    assert statistics.get_number_of_plays(video_ids=[unknown, twice, watched]) == [
        {"video_id": unknown, "views": 0},
        {"video_id": twice, "views": 2},
        {"video_id": watched, "views": 1},
    ]


def test_an_id_asked_twice_gets_two_entries(statistics):
    video_id = str(uuid.uuid4())
    statistics.record_playback_started(video_id=video_id)
    assert (
        statistics.get_number_of_plays(video_ids=[video_id, video_id])
        == [{"video_id": video_id, "views": 1}] * 2
    )


@pytest.mark.parametrize(
    "video_ids",
    [[], [str(uuid.uuid4()) for _ in range(MAX_IDS_PER_REQUEST + 1)], ["not-a-uuid"], None],
)
def test_plays_take_one_to_twenty_uuids(statistics, video_ids):
    with pytest.raises(InvalidArgument) as error:
        statistics.get_number_of_plays(video_ids=video_ids)
    assert error.value.field == "video_ids"


def test_recording_a_play_needs_a_uuid(statistics):
    with pytest.raises(InvalidArgument) as error:
        statistics.record_playback_started(video_id="")
    assert error.value.field == "video_id"


def test_an_invalid_argument_names_its_field_once_on_the_callers_side(statistics):
    with pytest.raises(InvalidArgument) as error:
        statistics.get_number_of_plays(video_ids=[])
    assert str(error.value) == "video_ids: Length must be between 1 and 20."
