"""VideoCatalogService through the gateway, with the web app's two-step paging."""

from grpc import StatusCode

from killrvideo.video_catalog.video_catalog_service_pb2 import (
    YOUTUBE,
    GetLatestVideoPreviewsRequest,
    GetUserVideoPreviewsRequest,
    GetVideoPreviewsRequest,
    GetVideoRequest,
)
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id, pages_from_the_head, submit_video


def test_a_submitted_video_is_in_the_catalog(api, user):
    submitted = submit_video(api, user.user_id, tags=())
    video = api.videos.GetVideo(GetVideoRequest(video_id=submitted.video_id), timeout=CALL_TIMEOUT)
    assert (video.video_id, video.user_id, video.name, video.description) == (
        submitted.video_id,
        user.user_id,
        submitted.name,
        submitted.description,
    )
    assert (video.location, video.location_type) == ("dQw4w9WgXcQ", YOUTUBE)
    assert list(video.tags) == []
    assert video.HasField("added_date")
    assert video.added_date.nanos % 1_000_000 == 0  # milliseconds, as stored

    [preview] = api.videos.GetVideoPreviews(
        GetVideoPreviewsRequest(video_ids=[submitted.video_id, new_id()]), timeout=CALL_TIMEOUT
    ).video_previews
    assert (preview.video_id, preview.user_id, preview.added_date) == (
        submitted.video_id,
        user.user_id,
        video.added_date,
    )
    assert preview.preview_image_location == "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg"


def test_an_unknown_video_is_not_found(api):
    error = failure(api.videos.GetVideo, GetVideoRequest(video_id=new_id()))
    assert error.code() == StatusCode.NOT_FOUND


def video_start(head) -> dict:
    return {"starting_added_date": head.added_date, "starting_video_id": head.video_id}


def test_a_users_videos_page_from_the_head(api, user):
    submitted = [submit_video(api, user.user_id, name=f"video {n}") for n in range(5)]
    head, items = pages_from_the_head(
        api.videos.GetUserVideoPreviews,
        GetUserVideoPreviewsRequest(user_id=user.user_id),
        "video_previews",
        video_start,
        2,
    )
    newest_first = [video.video_id.value for video in reversed(submitted)]
    assert head.video_id.value == newest_first[0]
    assert [item.video_id.value for item in items] == newest_first
    assert all(item.user_id == user.user_id and item.HasField("added_date") for item in items)


def test_the_latest_videos_page_from_the_head(api, user):
    submitted = [submit_video(api, user.user_id, name=f"latest {n}") for n in range(3)]
    head, items = pages_from_the_head(
        api.videos.GetLatestVideoPreviews,
        GetLatestVideoPreviewsRequest(),
        "video_previews",
        video_start,
        2,
    )
    ids = [item.video_id.value for item in items]
    assert ids[:3] == [video.video_id.value for video in reversed(submitted)]
    assert ids[0] == head.video_id.value
    assert len(ids) == len(set(ids)), "no video twice"


def test_the_last_page_says_there_is_no_more(api):
    page = api.videos.GetUserVideoPreviews(
        GetUserVideoPreviewsRequest(user_id=new_id(), page_size=10), timeout=CALL_TIMEOUT
    )
    assert list(page.video_previews) == []
    assert page.paging_state == ""


def test_page_sizes_and_paging_states_are_checked(api):
    for page_size in (0, -1, 1_000_000):
        error = failure(
            api.videos.GetLatestVideoPreviews, GetLatestVideoPreviewsRequest(page_size=page_size)
        )
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "page_size" in error.details()
    for garbage in ("garbage", "AAAA", "%%%"):
        error = failure(
            api.videos.GetLatestVideoPreviews,
            GetLatestVideoPreviewsRequest(page_size=5, paging_state=garbage),
        )
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert "paging_state" in error.details()
