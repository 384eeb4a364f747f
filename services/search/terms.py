"""The pure rules of search: what a video is indexed under and how results are ranked."""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.search.stop_words import STOP_WORDS

# Words are runs of letters and digits; shorter than 2 or longer than 40 characters, they are
# not worth indexing (initials, hashes, URLs).
WORD = re.compile(r"[^\W_]+")
MIN_WORD_LENGTH = 2
MAX_WORD_LENGTH = 40
# A description is up to 5000 characters: its first distinct words are enough to find it by.
MAX_WORDS_PER_VIDEO = 200
# Each query word costs a read of its tag and of its word index: the first few bound a search.
MAX_WORDS_PER_QUERY = 8


def normalized(text: str) -> str:
    """How a tag or a query is compared: lower-case, inner whitespace collapsed."""
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    """The distinct indexable words of a text, in order of appearance, stop words left out."""
    found = {}
    for word in WORD.findall(text.lower()):
        if MIN_WORD_LENGTH <= len(word) <= MAX_WORD_LENGTH and word not in STOP_WORDS:
            found.setdefault(word)
    return list(found)[:MAX_WORDS_PER_VIDEO]


def index_tags(tags: list[str]) -> list[str]:
    """A video's tags as they are indexed: normalized, distinct, none empty."""
    return list(dict.fromkeys(tag for tag in map(normalized, tags) if tag))


def index_words(name: str, description: str) -> list[str]:
    return words(f"{name} {description}")


def query_words(query: str) -> list[str]:
    """The words a query looks up: its first MAX_WORDS_PER_QUERY indexable words."""
    return words(query)[:MAX_WORDS_PER_QUERY]


def query_tags(query: str) -> list[str]:
    """The tags a query matches: the whole query (a tag may hold spaces) and each of its words."""
    return list(dict.fromkeys([normalized(query), *query_words(query)]))


@dataclass(frozen=True)
class Match:
    video_id: uuid.UUID
    added_date: datetime
    preview: dict
    by_tag: int  # how many of the query's tags the video has
    by_word: int  # how many of the query's words its name or description holds


def ranked(by_tag: dict[str, list], by_word: dict[str, list]) -> list[Match]:
    """The videos found under each query tag and each query word (rows with video_id,
    added_date, and the preview), ranked: tag matches first, then word matches; within each,
    the more terms matched and then the newer first. The id breaks ties, so that every page
    of a search is cut from the same order."""
    counts: dict[uuid.UUID, list] = {}
    for position, found in enumerate((by_tag, by_word)):
        for rows in found.values():
            for row in rows:
                entry = counts.setdefault(row.video_id, [row, 0, 0])
                entry[1 + position] += 1
    matches = [
        Match(video_id, row.added_date, row._asdict(), tags, words)
        for video_id, (row, tags, words) in counts.items()
    ]
    return sorted(
        matches,
        key=lambda m: (m.by_tag == 0, -m.by_tag, -m.by_word, -m.added_date.timestamp(), m.video_id),
    )
