"""The search service on RabbitMQ and localcql: its index is fed by real youtube_video_added
events, and each test waits for the handler to finish (with a deadline) before it searches."""

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from services.common.cassandra import CassandraRepository
from services.common.errors import InvalidArgument
from services.search.repository import SearchRepository
from services.search.schemas import MAX_QUERY_LENGTH
from services.search.service import SearchService
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED
from tests.paging import walk

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def video_event(name, description="", tags=(), hours_ago=0):
    added = NOON - timedelta(hours=hours_ago)
    return {
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


def publish(video):
    event_dispatcher()("videos", YOUTUBE_VIDEO_ADDED.name, YOUTUBE_VIDEO_ADDED.dump(video))


def indexed(container, video, times=1):
    """Publishes the video's event `times` times and returns once the handler has succeeded on
    the last delivery (or fails after the deadline)."""
    successes = iter(range(1, times + 1))

    def is_last_success(worker_ctx, result, exc_info):
        handled = worker_ctx.args[0]["video_id"] == video["video_id"] and exc_info is None
        return handled and next(successes) == times

    with entrypoint_waiter(container, "index_video", callback=is_last_success, timeout=10):
        for _ in range(times):
            publish(video)
    return str(video["video_id"])


@pytest.fixture
def search(start_services, rpc_client):
    [container] = start_services(SearchService).values()
    return container, rpc_client("search")


@pytest.fixture
def catalog(search):
    """A designed catalog: which videos a search for "cassandra" must find, in which order."""
    container, _ = search
    videos = {
        "tagged, old": video_event("Data modeling", tags=["Cassandra", "nosql"], hours_ago=5),
        "tagged twice": video_event(
            "Cassandra drivers", "cassandra in python", tags=["cassandra"], hours_ago=9
        ),
        "tagged, new": video_event("Ring internals", tags=["CASSANDRA"], hours_ago=1),
        "name only": video_event("Apache Cassandra in 5 minutes", hours_ago=2),
        "description only": video_event("Intro", "A tour of Cassandra's write path", hours_ago=3),
        "unrelated": video_event("Cats", "no database here", tags=["cats"], hours_ago=0),
    }
    ids = {label: indexed(container, video) for label, video in videos.items()}
    return ids


def ids_of(page) -> list[str]:
    return [video["video_id"] for video in page["videos"]]


def test_tag_matches_come_first_then_word_matches_newest_first(search, catalog):
    _, client = search
    page = client.search_videos(query="cassandra", page_size=10)
    assert page["query"] == "cassandra"
    assert page["paging_state"] == ""
    expected = ["tagged twice", "tagged, new", "tagged, old", "name only", "description only"]
    # "tagged twice" also has the word in its name and description: more of the query matched.
    assert ids_of(page) == [catalog[label] for label in expected]


def test_a_result_carries_the_preview(search, catalog):
    _, client = search
    [first] = client.search_videos(query="ring", page_size=1)["videos"]
    assert first["video_id"] == catalog["tagged, new"]
    assert first["name"] == "Ring internals"
    assert first["added_date"] == "2026-03-10T11:00:00.000Z"
    assert first["preview_image_location"].endswith("hqdefault.jpg")
    assert uuid.UUID(first["user_id"])


def test_search_is_case_insensitive(search, catalog):
    _, client = search
    lower = ids_of(client.search_videos(query="cassandra", page_size=10))
    assert ids_of(client.search_videos(query="  CasSandra ", page_size=10)) == lower


def test_a_tag_with_spaces_and_words_of_a_query(search):
    container, client = search
    spaced = indexed(container, video_event("Lecture 1", tags=["machine learning"]))
    worded = indexed(container, video_event("Learning to cook", hours_ago=1))
    found = ids_of(client.search_videos(query="Machine Learning", page_size=10))
    assert found == [spaced, worded]


@pytest.mark.parametrize("page_size", [1, 2, 4])
def test_paging_walks_every_result_once(search, catalog, page_size):
    _, client = search
    everything = ids_of(client.search_videos(query="cassandra", page_size=100))
    pages = walk(functools.partial(client.search_videos, query="cassandra"), page_size, "videos")
    assert [video["video_id"] for page in pages for video in page] == everything


def test_stop_words_and_unknown_words_find_nothing(search, catalog):
    _, client = search
    assert client.search_videos(query="the", page_size=10)["videos"] == []
    assert client.search_videos(query="zebra", page_size=10) == {
        "query": "zebra",
        "videos": [],
        "paging_state": "",
    }


def test_the_same_event_twice_indexes_the_video_once(search, cql):
    container, client = search
    video = video_event("Gossip protocol", "how nodes talk", tags=["gossip"])
    video_id = indexed(container, video, times=2)
    assert ids_of(client.search_videos(query="gossip", page_size=10)) == [video_id]
    rows = cql.execute("SELECT videoid FROM videos_by_tag WHERE tag = 'gossip'").all()
    assert len(rows) == 1


class FailingOnce(SearchRepository):
    failures_left = 1

    def index(self, *args):
        if FailingOnce.failures_left:
            FailingOnce.failures_left -= 1
            raise RuntimeError("the index table is unavailable")
        super().index(*args)


class SearchWithAFlakyIndex(SearchService):
    repository = CassandraRepository(FailingOnce)


def test_a_handler_that_fails_once_is_retried_and_the_index_ends_up_right(
    cassandra_config, runner_factory, rpc_client
):
    with nameko_config.patch({"EVENT_RETRY_DELAYS": [0.05]}):
        runner = runner_factory(SearchWithAFlakyIndex)
        runner.start()
        [container] = runner.service_map.values()
        video_id = indexed(container, video_event("Compaction", tags=["storage"]))
    assert FailingOnce.failures_left == 0
    found = rpc_client("search").search_videos(query="storage", page_size=10)
    assert ids_of(found) == [video_id]


def test_suggestions_are_known_terms_by_prefix_alphabetically(search, catalog):
    _, client = search
    assert client.get_query_suggestions(query="CA", page_size=10) == {
        "query": "CA",
        "suggestions": ["cassandra", "cats"],  # a tag and a word, each once
    }
    assert client.get_query_suggestions(query="c", page_size=1)["suggestions"] == ["cassandra"]
    assert client.get_query_suggestions(query="t", page_size=10)["suggestions"] == ["tour"]


def test_stop_words_are_not_suggested_even_when_they_are_tags(search):
    container, client = search
    indexed(container, video_event("Clip", tags=["The", "this", "Thrift"]))
    # The two stop-word tags sort before "thrift": they must not take its place on the page.
    assert client.get_query_suggestions(query="th", page_size=1)["suggestions"] == ["thrift"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * (MAX_QUERY_LENGTH + 1)}, "query"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
    ],
)
def test_invalid_suggestion_requests_are_refused_by_field(search, fields, field):
    _, client = search
    with pytest.raises(InvalidArgument) as error:
        client.get_query_suggestions(**{"query": "ca", "page_size": 5, **fields})
    assert error.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * (MAX_QUERY_LENGTH + 1)}, "query"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"paging_state": "garbage"}, "paging_state"),
    ],
)
def test_invalid_searches_are_refused_by_field(search, fields, field):
    _, client = search
    with pytest.raises(InvalidArgument) as error:
        client.search_videos(**{"query": "cassandra", "page_size": 5, **fields})
    assert error.value.field == field


def test_a_paging_state_continues_only_its_own_search(search, catalog):
    _, client = search
    state = client.search_videos(query="cassandra", page_size=1)["paging_state"]
    assert state
    with pytest.raises(InvalidArgument) as error:
        client.search_videos(query="cats", page_size=1, paging_state=state)
    assert error.value.field == "paging_state"


def retagged(container, video, tags, minutes_later=1):
    """Publishes video_tags_updated for `video` and waits for the search handler."""
    change = {
        **{k: video[k] for k in ("video_id", "user_id", "name", "preview_image_location")},
        "added_date": video["added_date"],
        "tags": tags,
        "previous_tags": video["tags"],
        "timestamp": video["timestamp"] + timedelta(minutes=minutes_later),
    }
    with entrypoint_waiter(container, "reindex_tags", timeout=10):
        event_dispatcher()("videos", VIDEO_TAGS_UPDATED.name, VIDEO_TAGS_UPDATED.dump(change))


def test_fixed_tags_are_followed_and_a_late_old_event_does_not_undo_them(search):
    container, client = search
    video = video_event("Lecture", tags=["misspelt"])
    video_id = indexed(container, video)
    retagged(container, video, ["spelt"])
    assert ids_of(client.search_videos(query="spelt", page_size=5)) == [video_id]
    assert client.search_videos(query="misspelt", page_size=5)["videos"] == []
    indexed(container, video)  # the original event, delivered again after the fix
    assert client.search_videos(query="misspelt", page_size=5)["videos"] == []
