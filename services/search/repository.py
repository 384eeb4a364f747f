"""Every CQL statement of the search service."""

from services.common.cassandra import run_all

# One search reads at most this many videos per tag or word: the newest-first ranking is over
# these, which bounds the work of a search for a very common term.
MAX_ROWS_PER_TERM = 1000


class SearchRepository:
    def __init__(self, session):
        self.session = session
        prepare = session.prepare
        self.insert_tagged = prepare(
            "INSERT INTO videos_by_tag "
            "(tag, videoid, added_date, userid, name, preview_image_location, tagged_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
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

    def index(self, video: dict, tags: list[str], words: list[str], now) -> None:
        """Index a video under its tags and words. Every write is an upsert of the same values,
        so indexing a video again (a redelivered event) changes nothing."""
        preview = (
            video["added_date"],
            video["user_id"],
            video["name"],
            video["preview_image_location"],
        )
        writes = [(self.insert_tagged, (tag, video["video_id"], *preview, now)) for tag in tags] + [
            (self.insert_tag, (tag[0], tag)) for tag in tags
        ]
        writes += [(self.insert_worded, (word, video["video_id"], *preview)) for word in words]
        writes += [(self.insert_word, (word[0], word)) for word in words]
        run_all(self.session, writes)

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
