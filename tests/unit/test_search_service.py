"""The search service's orchestration, with nameko's worker_factory (no broker, no database):
what its event handlers index, and what its RPCs find in that index."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import InvalidArgument
from services.search.service import SearchService
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED
from tests.unit.fakes import FakeSearchRepository, delivered

ADDED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def service():
    return worker_factory(SearchService, repository=FakeSearchRepository())


def add_video(service, name, tags=(), description="", minutes_later=0) -> dict:
    added = ADDED + timedelta(minutes=minutes_later)
    video = {
        "video_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "name": name,
        "description": description,
        "location": "dQw4w9WgXcQ",
        "preview_image_location": "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "tags": list(tags),
        "added_date": added,
        "timestamp": added,
    }
    service.index_video(delivered(YOUTUBE_VIDEO_ADDED, video))
    return video


def found(answer: dict) -> list[str]:
    return [video["name"] for video in answer["videos"]]


def test_an_added_video_is_found_by_its_tags_and_words_tag_matches_first(service):
    add_video(service, "Cassandra in ten minutes", minutes_later=1)  # a word of its name
    add_video(service, "Data modelling", tags=["Cassandra"])
    add_video(service, "Something else", tags=["postgres"], description="not the one")

    answer = service.search_videos(query="CASSANDRA", page_size=10)

    assert found(answer) == ["Data modelling", "Cassandra in ten minutes"]
    assert answer["query"] == "CASSANDRA"
    assert answer["paging_state"] == ""


def test_a_video_is_found_by_its_new_tags_and_no_longer_by_the_removed_ones(service):
    video = add_video(service, "Data modelling", tags=["nosql", "cassandra"])
    change = {**video, "tags": ["cassandra", "databases"], "previous_tags": video["tags"]}

    service.reindex_tags(delivered(VIDEO_TAGS_UPDATED, change))

    assert found(service.search_videos(query="databases", page_size=10)) == ["Data modelling"]
    assert found(service.search_videos(query="cassandra", page_size=10)) == ["Data modelling"]
    assert found(service.search_videos(query="nosql", page_size=10)) == []


def test_results_are_paged_and_a_paging_state_continues_only_its_own_query(service):
    for minutes in range(3):
        add_video(service, f"Video {minutes}", tags=["jazz"], minutes_later=minutes)

    first = service.search_videos(query="jazz", page_size=2)
    rest = service.search_videos(query="jazz", page_size=2, paging_state=first["paging_state"])

    assert found(first) == ["Video 2", "Video 1"]  # the newest first
    assert found(rest) == ["Video 0"]
    assert rest["paging_state"] == ""
    with pytest.raises(InvalidArgument) as error:
        service.search_videos(query="blues", page_size=2, paging_state=first["paging_state"])
    assert error.value.field == "paging_state"


def test_suggestions_are_known_terms_of_the_prefix_without_stop_words(service):
    add_video(service, "Thermal imaging", tags=["theory", "the"])  # "the" is a stop word

    answer = service.get_query_suggestions(query="  The", page_size=5)

    assert answer == {"query": "  The", "suggestions": ["theory", "thermal"]}
    assert service.get_query_suggestions(query="the", page_size=1)["suggestions"] == ["theory"]


@pytest.mark.parametrize("field, value", [("query", "   "), ("query", ""), ("page_size", 0)])
def test_a_bad_query_or_page_size_is_named(service, field, value):
    request = {"query": "jazz", "page_size": 10, field: value}
    with pytest.raises(InvalidArgument) as error:
        service.search_videos(**request)
    assert error.value.field == field
