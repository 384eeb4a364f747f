"""The comments service: `nameko run services.comments.service`.

A comment's id is a TimeUUID made by the client; its time is the comment's timestamp, and lists
are ordered by it, newest first. A list may start at a given comment (inclusive), as the web app
asks: first one comment to learn the head of the list, then pages from that head.
"""

import uuid
from dataclasses import dataclass

from cassandra.util import datetime_from_uuid1
from marshmallow import Schema

from services.comments import schemas
from services.comments.events import USER_COMMENTED_ON_VIDEO
from services.comments.repository import CommentsRepository
from services.common import paging
from services.common.cassandra import CassandraRepository
from services.common.events import EventPublisher
from services.common.metrics import Metrics
from services.common.rpc import rpc
from services.common.schemas import shared
from services.common.tracing import Tracing


@dataclass(frozen=True)
class Listing:
    name: str  # the repository's name for it
    key: str  # the request field naming whose comments
    page: type[Schema]

    def scope(self, key: uuid.UUID) -> bytes:
        # A paging state carries its list and key: one list's state cannot page another.
        return self.name.encode() + key.bytes


BY_VIDEO = Listing("video", "video_id", schemas.VideoCommentsPage)
BY_USER = Listing("user", "user_id", schemas.UserCommentsPage)


def with_timestamps(rows) -> list[dict]:
    return [
        {**row._asdict(), "comment_timestamp": datetime_from_uuid1(row.comment_id)} for row in rows
    ]


class CommentsService:
    name = "comments"

    repository = CassandraRepository(CommentsRepository)
    metrics = Metrics()
    tracing = Tracing()
    publish = EventPublisher()

    @rpc(schemas.CommentOnVideoRequest)
    def comment_on_video(self, request):
        """Add a comment (up to 5000 characters) to a video. Publishes `user_commented_on_video`.

        Sending the same comment_id again rewrites the same comment: a retry is harmless.
        """
        self.repository.add(**request)
        self.publish(
            USER_COMMENTED_ON_VIDEO,
            {
                "user_id": request["user_id"],
                "video_id": request["video_id"],
                "comment_id": request["comment_id"],
                "comment_timestamp": datetime_from_uuid1(request["comment_id"]),
            },
        )
        return {}

    @rpc(schemas.VideoCommentsRequest)
    def get_video_comments(self, request):
        """A video's comments, newest first, a page at a time (page_size 1 to 100).

        With starting_comment_id the page begins with that comment. Pass the returned paging_state
        (with the same starting comment) for the next page; "" means there is none.
        """
        return self.page_of(BY_VIDEO, request)

    @rpc(schemas.UserCommentsRequest)
    def get_user_comments(self, request):
        """A user's comments, newest first, a page at a time; same paging rules as a video's."""
        return self.page_of(BY_USER, request)

    def page_of(self, listing: Listing, request: dict):
        key = request[listing.key]
        rows, driver_state = self.repository.comments(
            listing.name,
            key,
            request["page_size"],
            request["starting_comment_id"],
            paging.decode_scoped(listing.scope(key), request["paging_state"]),
        )
        return shared(listing.page).dump(
            {
                listing.key: key,
                "comments": with_timestamps(rows),
                "paging_state": paging.encode_scoped(listing.scope(key), driver_state),
            }
        )
