"""StatisticsService through the gateway."""

from grpc import StatusCode

from killrvideo.statistics.statistics_service_pb2 import (
    GetNumberOfPlaysRequest,
    RecordPlaybackStartedRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id


def test_plays_are_counted_one_entry_per_id_in_request_order(api):
    watched, unknown = new_id(), new_id()
    for _ in range(3):
        api.statistics.RecordPlaybackStarted(
            RecordPlaybackStartedRequest(video_id=watched), timeout=CALL_TIMEOUT
        )
    reply = api.statistics.GetNumberOfPlays(
        GetNumberOfPlaysRequest(video_ids=[unknown, watched]), timeout=CALL_TIMEOUT
    )
    assert [(stats.video_id, stats.views) for stats in reply.stats] == [(unknown, 0), (watched, 3)]


def test_plays_of_one_to_twenty_ids(api):
    for video_ids in ([], [new_id() for _ in range(21)]):
        error = failure(
            api.statistics.GetNumberOfPlays, GetNumberOfPlaysRequest(video_ids=video_ids)
        )
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "video_ids" in error.details()
