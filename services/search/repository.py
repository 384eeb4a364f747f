"""Every CQL statement of the search service."""

from services.common.cassandra import run_all
from services.common.timestamps import to_micros

# One search reads at most this many videos per tag or word: the newest-first ranking is over
# these, which bounds the work of a search for a very common term.
MAX_ROWS_PER_TERM = 1000


class SearchRepository:
    def __init__(self, session):
        self.session = session
        prepare = session.prepare
        # Tag rows are written and deleted at their event's time: a late or repeated event
        # never undoes a newer change of a video's tags (the write with the latest time wins).
        self.insert_tagged = prepare(
            "INSERT INTO videos_by_tag "
            "(tag, videoid, added_date, userid, name, preview_image_location, tagged_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        )
        self.delete_tagged = prepare(
            "DELETE FROM videos_by_tag USING TIMESTAMP ? WHERE tag = ? AND videoid = ?"
        )
        self.insert_tag = prepare("INSERT INTO tags_by_letter (first_letter, tag) VALUES (?, ?)")
        self.insert_worded = prepare(
            "INSERT INTO search_videos_by_word "
            "(word, videoid, added_date, userid, name, preview_image_location) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self.insert_word = prepare(
            "INSERT INTO search_words_by_letter (first_letter, word) VALUES (?, ?)"
        )
        self.select_tagged = prepare(
            "SELECT videoid AS video_id, added_date, userid AS user_id, name, "
            "preview_image_location FROM videos_by_tag WHERE tag = ? LIMIT ?"
        )
        self.select_worded = prepare(
            "SELECT videoid AS video_id, added_date, userid AS user_id, name, "
            "preview_image_location FROM search_videos_by_word WHERE word = ? LIMIT ?"
        )
        self.select_tags = prepare(
            "SELECT tag FROM tags_by_letter WHERE first_letter = ? AND tag >= ? AND tag < ? LIMIT ?"
        )
        self.select_words = prepare(
            "SELECT word FROM search_words_by_letter "
            "WHERE first_letter = ? AND word >= ? AND word < ? LIMIT ?"
        )

    def index(self, video: dict, tags: list[str], words: list[str]) -> None:
        """Index a video under its tags and words. Every write is an upsert of values from the
        event, so indexing a video again (a redelivered event) changes nothing."""
        preview = self._preview(video)
        writes = self._tag_writes(video, tags)
        writes += [(self.insert_worded, (word, video["video_id"], *preview)) for word in words]
        writes += [(self.insert_word, (word[0], word)) for word in words]
        run_all(self.session, writes)

    def retag(self, video: dict, tags: list[str], removed: list[str]) -> None:
        """Index a video under its new tags and no longer under the removed ones."""
        at = to_micros(video["timestamp"])
        deletes = [(self.delete_tagged, (at, tag, video["video_id"])) for tag in removed]
        run_all(self.session, self._tag_writes(video, tags) + deletes)

    def _tag_writes(self, video: dict, tags: list[str]) -> list:
        at, tagged = to_micros(video["timestamp"]), video["timestamp"]
        preview = self._preview(video)
        return [
            (self.insert_tagged, (tag, video["video_id"], *preview, tagged, at)) for tag in tags
        ] + [(self.insert_tag, (tag[0], tag)) for tag in tags]

    @staticmethod
    def _preview(video: dict) -> tuple:
        return (
            video["added_date"],
            video["user_id"],
            video["name"],
            video["preview_image_location"],
        )

    def videos_with(self, tags: list[str], words: list[str]) -> tuple[dict, dict]:
        """The videos indexed under each tag and under each word (read concurrently)."""
        reads = [(self.select_tagged, (tag, MAX_ROWS_PER_TERM)) for tag in tags]
        reads += [(self.select_worded, (word, MAX_ROWS_PER_TERM)) for word in words]
        rows = run_all(self.session, reads)
        return dict(zip(tags, rows[: len(tags)], strict=True)), dict(
            zip(words, rows[len(tags) :], strict=True)
        )

    def terms_starting_with(self, prefix: str, limit: int) -> list[str]:
        """Known tags and words that start with `prefix`, in order, at most `limit` of each."""
        # Every string that starts with the prefix sorts below prefix + the last code point.
        bounds = (prefix[0], prefix, prefix + "\U0010ffff", limit)
        tags = self.session.execute(self.select_tags, bounds)
        words = self.session.execute(self.select_words, bounds)
        return [row.tag for row in tags] + [row.word for row in words]
