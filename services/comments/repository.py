"""Every CQL statement of the comments service."""

import uuid

from cassandra.query import BatchStatement, BatchType

from services.common.cassandra import read_page


class CommentsRepository:
    def __init__(self, session):
        self.session = session
        prepare = session.prepare
        self.insert_by_video = prepare(
            "INSERT INTO comments_by_video (videoid, commentid, userid, comment) "
            "VALUES (?, ?, ?, ?)"
        )
        self.insert_by_user = prepare(
            "INSERT INTO comments_by_user (userid, commentid, videoid, comment) VALUES (?, ?, ?, ?)"
        )
        # Each list: its statements from the top and from an inclusive starting comment.
        self.lists = {
            "video": (
                prepare(
                    "SELECT commentid AS comment_id, userid AS user_id, comment "
                    "FROM comments_by_video WHERE videoid = ?"
                ),
                prepare(
                    "SELECT commentid AS comment_id, userid AS user_id, comment "
                    "FROM comments_by_video WHERE videoid = ? AND commentid <= ?"
                ),
            ),
            "user": (
                prepare(
                    "SELECT commentid AS comment_id, videoid AS video_id, comment "
                    "FROM comments_by_user WHERE userid = ?"
                ),
                prepare(
                    "SELECT commentid AS comment_id, videoid AS video_id, comment "
                    "FROM comments_by_user WHERE userid = ? AND commentid <= ?"
                ),
            ),
        }

    def add(self, video_id, user_id, comment_id, comment: str) -> None:
        """Both rows of a comment in one logged batch: written together or not at all. The
        comment's id is its key, so writing the same comment again changes nothing."""
        batch = BatchStatement(BatchType.LOGGED)
        batch.add(self.insert_by_video, (video_id, comment_id, user_id, comment))
        batch.add(self.insert_by_user, (user_id, comment_id, video_id, comment))
        self.session.execute(batch)

    def comments(self, listing: str, key: uuid.UUID, page_size: int, start, driver_state):
        """A page of the "video" or "user" comments of `key`, newest first, from the comment
        `start` (inclusive) or resuming at `driver_state`, and the driver's paging state for the
        next page (None: no more)."""
        from_top, from_start = self.lists[listing]
        statement, params = (from_start, (key, start)) if start else (from_top, (key,))
        return read_page(self.session, statement, params, page_size, driver_state)
