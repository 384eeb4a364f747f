"""The search service: `nameko run services.search.service`.

Plain Apache Cassandra has no full-text search, so this service keeps its own index, fed by the
`youtube_video_added` and `video_tags_updated` events of the videos service (eventually
consistent: a video is findable once its event is handled, normally well within a second):

- each tag of a video (lower-case) → the video, in `videos_by_tag`, and the tag in
  `tags_by_letter`;
- each word of its name and description (lower-case runs of letters and digits, 2 to 40
  characters, English stop words left out) → the video, in `search_videos_by_word`, and the word
  in `search_words_by_letter`.

search_videos finds the videos tagged with the whole query or with any of its words, then those
whose name or description holds any of its words, each video once. Tag matches come first;
within each group the videos matching more of the query come first, then the newest, then by id.
The work of one search is bounded: only the query's first 8 words count, and at most 1000
videos are read per tag or word (at most 17 reads of 1000 rows). Pages are cut from that
ranking: the paging state is the position to resume at, signed and valid for the same query
only. A page fetched after new videos were indexed may repeat or skip a video of the previous
page.

get_query_suggestions offers the known tags and words that start with the query (lower-cased),
distinct and alphabetical, English stop words left out (services/search/stop_words.py).
"""

import hashlib

from services.common import paging
from services.common.cassandra import CassandraRepository
from services.common.handlers import on_event
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.tracing import Tracing
from services.search import schemas, terms
from services.search.repository import SearchRepository
from services.search.stop_words import STOP_WORDS
from services.videos.events import VIDEO_TAGS_UPDATED, YOUTUBE_VIDEO_ADDED


def search_scope(query: str) -> bytes:
    # A paging state continues the search it came from, and no other.
    return b"S" + hashlib.sha256(terms.normalized(query).encode()).digest()[:16]


class SearchService:
    name = "search"

    repository = CassandraRepository(SearchRepository)
    metrics = Metrics()
    tracing = Tracing()

    @on_event("videos", YOUTUBE_VIDEO_ADDED)
    def index_video(self, video):
        """Make a new video findable by its tags and the words of its name and description."""
        self.repository.index(
            video,
            terms.index_tags(video["tags"]),
            terms.index_words(video["name"], video["description"]),
        )

    @on_event("videos", VIDEO_TAGS_UPDATED)
    def reindex_tags(self, change):
        """Follow an operator's change of a video's tags."""
        tags = terms.index_tags(change["tags"])
        removed = [tag for tag in terms.index_tags(change["previous_tags"]) if tag not in tags]
        self.repository.retag(change, tags, removed)

    @rpc(schemas.SearchVideosRequest)
    def search_videos(self, request):
        """Videos matching the query (case-insensitive), tag matches first, a page at a time
        (page_size 1 to 100); pass the returned paging_state for the next page."""
        by_tag, by_word = self.repository.videos_with(
            terms.query_tags(request["query"]), terms.query_words(request["query"])
        )
        page, more = paging.page_of(
            terms.ranked(by_tag, by_word),
            request["page_size"],
            search_scope(request["query"]),
            request["paging_state"],
        )
        return shared(schemas.SearchResultsPage).dump(
            {
                "query": request["query"],
                "videos": [match.preview for match in page],
                "paging_state": more,
            }
        )

    @rpc(schemas.GetQuerySuggestionsRequest)
    def get_query_suggestions(self, request):
        """Up to page_size known tags and words starting with the query, alphabetically."""
        prefix = terms.normalized(request["query"])
        # Tags are users' free text and may be stop words: read enough to fill the page without.
        stop_words_in_reach = sum(word.startswith(prefix) for word in STOP_WORDS)
        found = self.repository.terms_starting_with(
            prefix, request["page_size"] + stop_words_in_reach
        )
        suggestions = sorted(set(found) - STOP_WORDS)[: request["page_size"]]
        return shared(schemas.QuerySuggestions).dump(
            {"query": request["query"], "suggestions": suggestions}
        )
