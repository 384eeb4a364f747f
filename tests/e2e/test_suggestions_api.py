"""SuggestedVideoService through the gateway: fed by the events of videos submitted and rated
through the API, waited for with a deadline."""

from grpc import StatusCode

from killrvideo.ratings.ratings_service_pb2 import RateVideoRequest
from killrvideo.suggested_videos.suggested_videos_service_pb2 import (
    GetRelatedVideosRequest,
    GetSuggestedForUserRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id, submit_video
from tests.waiting import wait_until


def related(api, video_id, page_size=10):
    return api.suggestions.GetRelatedVideos(
        GetRelatedVideosRequest(video_id=video_id, page_size=page_size), timeout=CALL_TIMEOUT
    )


def suggested(api, user_id):
    return api.suggestions.GetSuggestedForUser(
        GetSuggestedForUserRequest(user_id=user_id, page_size=10), timeout=CALL_TIMEOUT
    )


def test_videos_sharing_tags_are_related_and_suggested_to_who_liked_one(api, user):
    tag = f"raft{new_id().value[:8]}"
    first = submit_video(api, user.user_id, name="Raft, part 1", tags=[tag, "consensus"])
    second = submit_video(api, user.user_id, name="Raft, part 2", tags=[tag])
    wait_until(
        lambda: [v.video_id for v in related(api, first.video_id).videos] == [second.video_id],
        5,
        "the second video is related to the first",
    )
    reply = related(api, first.video_id)
    assert reply.video_id == first.video_id and reply.paging_state == ""
    assert reply.videos[0].user_id == user.user_id and reply.videos[0].HasField("added_date")

    fan = new_id()
    api.ratings.RateVideo(
        RateVideoRequest(video_id=first.video_id, user_id=fan, rating=5), timeout=CALL_TIMEOUT
    )
    wait_until(
        lambda: [v.video_id for v in suggested(api, fan).videos] == [second.video_id],
        5,
        "the fan of part 1 is suggested part 2",
    )


def test_a_user_without_history_gets_no_suggestions(api):
    user_id = new_id()
    reply = suggested(api, user_id)
    assert reply.user_id == user_id
    assert list(reply.videos) == [] and reply.paging_state == ""


def test_a_page_size_of_zero_is_an_invalid_argument(api):
    error = failure(
        api.suggestions.GetRelatedVideos, GetRelatedVideosRequest(video_id=new_id(), page_size=0)
    )
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert "page_size" in error.details()
