"""SearchService through the gateway: a video submitted through the API becomes searchable
(the search service indexes it from the videos service's event), without sleeping blindly."""

import uuid

from grpc import StatusCode

from killrvideo.search.search_service_pb2 import GetQuerySuggestionsRequest, SearchVideosRequest
from tests.e2e.conftest import CALL_TIMEOUT, failure, submit_video
from tests.waiting import wait_until


def search(api, query, page_size=10, paging_state=""):
    return api.search.SearchVideos(
        SearchVideosRequest(query=query, page_size=page_size, paging_state=paging_state),
        timeout=CALL_TIMEOUT,
    )


def test_a_submitted_video_becomes_searchable_by_tag_and_by_name(api, user):
    tag = f"tag{uuid.uuid4().hex[:8]}"
    word = f"word{uuid.uuid4().hex[:8]}"
    video = submit_video(api, user.user_id, name=f"All about {word}", tags=[tag])
    wait_until(
        lambda: [v.video_id for v in search(api, tag).videos] == [video.video_id],
        5,
        "the video is indexed under its tag",
    )
    [found] = search(api, word.upper()).videos
    assert (found.video_id, found.user_id, found.name) == (video.video_id, user.user_id, video.name)
    assert found.HasField("added_date")

    suggestions = api.search.GetQuerySuggestions(
        GetQuerySuggestionsRequest(query=tag[:6], page_size=5), timeout=CALL_TIMEOUT
    )
    assert suggestions.query == tag[:6]
    assert tag in suggestions.suggestions


def test_pages_of_results_end_with_an_empty_paging_state(api, user):
    tag = f"paged{uuid.uuid4().hex[:8]}"
    submitted = [submit_video(api, user.user_id, name=f"part {n}", tags=[tag]) for n in range(3)]
    wait_until(lambda: len(search(api, tag).videos) == 3, 5, "three videos indexed")
    first = search(api, tag, page_size=2)
    second = search(api, tag, page_size=2, paging_state=first.paging_state)
    assert first.paging_state and second.paging_state == ""
    seen = [v.video_id.value for v in [*first.videos, *second.videos]]
    assert sorted(seen) == sorted(video.video_id.value for video in submitted)


def test_an_empty_query_is_an_invalid_argument(api):
    error = failure(api.search.SearchVideos, SearchVideosRequest(query="", page_size=5))
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert "query" in error.details()
