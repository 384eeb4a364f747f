"""The suggestions service's orchestration, with nameko's worker_factory (no broker, no
database): what its event handlers remember, and what its RPCs rank from it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import InvalidArgument
from services.ratings.events import USER_RATED_VIDEO
from services.suggestions.service import SuggestionsService
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED
from tests.unit.fakes import FakeSuggestionsRepository, delivered

ADDED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def service():
    return worker_factory(SuggestionsService, repository=FakeSuggestionsRepository())


def add_video(service, name, tags, minutes_later=0) -> dict:
    added = ADDED + timedelta(minutes=minutes_later)
    video = {
        "video_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "name": name,
        "description": "",
        "location": "dQw4w9WgXcQ",
        "preview_image_location": "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "tags": tags,
        "added_date": added,
        "timestamp": added,
    }
    service.remember_video(delivered(YOUTUBE_VIDEO_ADDED, video))
    return video


def rate(service, user_id, video, stars) -> None:
    rating = {
        "user_id": user_id,
        "video_id": video["video_id"],
        "rating": stars,
        "rating_timestamp": ADDED,
    }
    service.remember_rating(delivered(USER_RATED_VIDEO, rating))


def names(page: dict) -> list[str]:
    return [video["name"] for video in page["videos"]]


def related(service, video, **paging) -> dict:
    return service.get_related_videos(video_id=str(video["video_id"]), **paging)


def test_related_videos_share_tags_most_shared_first_never_the_video_itself(service):
    video = add_video(service, "Take Five", ["jazz", "Piano"])
    add_video(service, "So What", ["JAZZ"], minutes_later=2)  # tags compare case-insensitively
    add_video(service, "Blue in Green", ["jazz", "piano"], minutes_later=1)
    add_video(service, "Paranoid", ["metal"])

    page = related(service, video, page_size=10)

    assert names(page) == ["Blue in Green", "So What"]
    assert page["video_id"] == str(video["video_id"])
    assert page["paging_state"] == ""


def test_an_unknown_video_has_no_related_videos(service):
    add_video(service, "Take Five", ["jazz"])
    assert service.get_related_videos(video_id=str(uuid.uuid4()), page_size=10)["videos"] == []


def test_a_video_follows_its_new_tags(service):
    video = add_video(service, "Take Five", ["jazz"])
    other = add_video(service, "So What", ["jazz"])
    change = {**other, "tags": ["modal"], "previous_tags": other["tags"]}

    service.follow_tags(delivered(VIDEO_TAGS_UPDATED, change))

    assert names(related(service, video, page_size=10)) == []
    modal = add_video(service, "Flamenco Sketches", ["modal"])
    assert names(related(service, modal, page_size=10)) == ["So What"]


def test_suggestions_come_from_liked_videos_tags_and_from_users_who_liked_them_too(service):
    user, alike = uuid.uuid4(), uuid.uuid4()
    liked = add_video(service, "Take Five", ["jazz", "piano"])
    disliked = add_video(service, "So What", ["jazz"])
    add_video(service, "Blue in Green", ["jazz", "piano"])
    add_video(service, "Paranoid", ["metal"])
    liked_alike = add_video(service, "Round Midnight", [])
    rate(service, user, liked, 5)
    rate(service, user, disliked, 2)  # rated, so never suggested, though it shares a tag
    rate(service, alike, liked, 4)
    rate(service, alike, liked_alike, 5)

    page = service.get_suggested_for_user(user_id=str(user), page_size=10)

    assert names(page) == ["Blue in Green", "Round Midnight"]
    assert page["user_id"] == str(user)


def test_a_user_who_rated_nothing_gets_no_suggestions(service):
    add_video(service, "Take Five", ["jazz"])
    page = service.get_suggested_for_user(user_id=str(uuid.uuid4()), page_size=10)
    assert page == {"user_id": page["user_id"], "videos": [], "paging_state": ""}


def test_pages_follow_the_ranking_and_a_paging_state_continues_only_its_own_list(service):
    video = add_video(service, "Take Five", ["jazz"])
    for minutes in range(1, 4):
        add_video(service, f"Standard {minutes}", ["jazz"], minutes_later=minutes)

    first = related(service, video, page_size=2)
    rest = related(service, video, page_size=2, paging_state=first["paging_state"])

    assert names(first) + names(rest) == ["Standard 3", "Standard 2", "Standard 1"]
    with pytest.raises(InvalidArgument) as error:
        service.get_suggested_for_user(
            user_id=str(video["video_id"]), page_size=2, paging_state=first["paging_state"]
        )
    assert error.value.field == "paging_state"


@pytest.mark.parametrize("field, value", [("video_id", "42"), ("page_size", 101)])
def test_a_bad_request_is_named(service, field, value):
    with pytest.raises(InvalidArgument) as error:
        service.get_related_videos(**{"video_id": str(uuid.uuid4()), "page_size": 5, field: value})
    assert error.value.field == field
