"""The videos service's orchestration, with nameko's worker_factory: what it stores, publishes
and answers, with a fake repository, publisher and clock (no broker, no database)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.videos import listing
from services.videos.service import VideosService
from tests.unit.fakes import FakeVideosRepository, FixedClock, PublishedEvents

NOW = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)
YOUTUBE_ID = "dQw4w9WgXcQ"


def on_the_wire(moment: datetime) -> str:
    """A timestamp as events and answers carry it: ISO-8601 UTC, milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture
def service():
    return worker_factory(
        VideosService,
        repository=FakeVideosRepository(),
        publish=PublishedEvents(),
        now=FixedClock(NOW),
    )


def submission(**changes) -> dict:
    return {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "name": "Never Gonna Give You Up",
        "you_tube_video_id": f"https://youtu.be/{YOUTUBE_ID}",
        "description": "",
        "tags": ["pop", "80s", "pop"],
        **changes,
    }


class TestSubmitYouTubeVideo:
    def test_stores_the_video_as_the_catalog_keeps_it(self, service):
        request = submission()
        answer = service.submit_youtube_video(**request)

        stored = service.repository.videos[uuid.UUID(request["video_id"])]
        assert stored["location"] == YOUTUBE_ID  # the bare id, from the URL
        assert stored["tags"] == ["80s", "pop"]  # unique, sorted
        assert stored["added_date"] == NOW
        assert YOUTUBE_ID in stored["preview_image_location"]
        assert answer["video_id"] == request["video_id"]
        assert answer["location"] == YOUTUBE_ID

    def test_announces_the_stored_video(self, service):
        request = submission()
        service.submit_youtube_video(**request)

        [event] = service.publish.named("youtube_video_added")
        assert event["video_id"] == request["video_id"]
        assert event["tags"] == ["80s", "pop"]
        assert event["added_date"] == event["timestamp"] == on_the_wire(NOW)

    def test_a_retry_announces_the_first_added_date(self, service):
        request = submission()
        service.submit_youtube_video(**request)
        service.now.moment = NOW + timedelta(minutes=1)

        answer = service.submit_youtube_video(**request)

        first, retry = service.publish.named("youtube_video_added")
        assert retry["added_date"] == first["added_date"] == answer["added_date"]
        assert retry["timestamp"] == on_the_wire(NOW + timedelta(minutes=1))

    def test_a_taken_video_id_is_refused_and_announced_nowhere(self, service):
        request = submission()
        service.submit_youtube_video(**request)

        with pytest.raises(AlreadyExists):
            service.submit_youtube_video(**{**request, "name": "Another video"})
        assert len(service.publish) == 1

    @pytest.mark.parametrize(
        "field, value",
        [("video_id", "not-a-uuid"), ("you_tube_video_id", "https://vimeo.com/1"), ("name", "")],
    )
    def test_a_bad_field_is_named_before_anything_is_stored(self, service, field, value):
        with pytest.raises(InvalidArgument) as error:
            service.submit_youtube_video(**submission(**{field: value}))
        assert error.value.field == field
        assert service.repository.videos == {}
        assert service.publish == []


class TestUpdateVideoTags:
    def test_announces_the_new_and_the_previous_tags(self, service):
        request = submission()
        service.submit_youtube_video(**request)

        answer = service.update_video_tags(video_id=request["video_id"], tags=["rock", "80s"])

        assert answer["tags"] == ["80s", "rock"]
        [event] = service.publish.named("video_tags_updated")
        assert event["tags"] == ["80s", "rock"]
        assert event["previous_tags"] == ["80s", "pop"]

    def test_an_unknown_video_is_not_found_and_announced_nowhere(self, service):
        with pytest.raises(NotFound):
            service.update_video_tags(video_id=str(uuid.uuid4()), tags=["rock"])
        assert service.publish == []


def test_get_video_of_an_unknown_id_is_not_found(service):
    with pytest.raises(NotFound):
        service.get_video(video_id=str(uuid.uuid4()))


def test_the_latest_videos_are_read_from_today_backwards(service):
    asked = []

    def latest_previews(days, page_size, start, driver_state):
        asked.append((days, page_size, start, driver_state))
        return [], None

    service.repository.latest_previews = latest_previews
    page = service.get_latest_video_previews(page_size=10)

    [(days, page_size, start, driver_state)] = asked
    assert days == listing.days_to_read(NOW.date(), None)
    assert days[0] == NOW.date()
    assert (page_size, start, driver_state) == (10, None, None)
    assert page == {"video_previews": [], "paging_state": ""}
