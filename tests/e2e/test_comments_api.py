"""CommentsService through the gateway, with the web app's two-step paging."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cassandra.util import uuid_from_time
from grpc import StatusCode

from killrvideo.comments.comments_service_pb2 import (
    CommentOnVideoRequest,
    GetUserCommentsRequest,
    GetVideoCommentsRequest,
)
from killrvideo.common.common_types_pb2 import TimeUuid
from tests.e2e.conftest import CALL_TIMEOUT, failure, new_id, pages_from_the_head

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def comment_start(head) -> dict:
    return {"starting_comment_id": head.comment_id}


def comment_on(api, video_id, user_id, minutes: int) -> CommentOnVideoRequest:
    request = CommentOnVideoRequest(
        video_id=video_id,
        user_id=user_id,
        comment_id=TimeUuid(value=str(uuid_from_time(NOON + timedelta(minutes=minutes)))),
        comment=f"comment {minutes}",
    )
    api.comments.CommentOnVideo(request, timeout=CALL_TIMEOUT)
    return request


def test_a_videos_comments_page_from_the_head(api):
    video_id, user_id = new_id(), new_id()
    written = [comment_on(api, video_id, user_id, minutes) for minutes in range(5)]
    head, comments = pages_from_the_head(
        api.comments.GetVideoComments,
        GetVideoCommentsRequest(video_id=video_id),
        "comments",
        comment_start,
        2,
    )
    newest_first = [request.comment_id for request in reversed(written)]
    assert head.comment_id == newest_first[0]
    assert [comment.comment_id for comment in comments] == newest_first
    assert all(comment.user_id == user_id for comment in comments)
    assert comments[0].comment_timestamp.ToDatetime(tzinfo=UTC) == NOON + timedelta(minutes=4)


def test_a_users_comments_page_from_the_head(api):
    user_id = new_id()
    written = [comment_on(api, new_id(), user_id, minutes) for minutes in range(3)]
    _, comments = pages_from_the_head(
        api.comments.GetUserComments,
        GetUserCommentsRequest(user_id=user_id),
        "comments",
        comment_start,
        2,
    )
    assert [(c.video_id, c.comment) for c in comments] == [
        (request.video_id, request.comment) for request in reversed(written)
    ]


def test_the_reply_echoes_the_id_and_ends_with_no_paging_state(api):
    video_id = new_id()
    reply = api.comments.GetVideoComments(
        GetVideoCommentsRequest(video_id=video_id, page_size=10), timeout=CALL_TIMEOUT
    )
    assert reply.video_id == video_id
    assert list(reply.comments) == []
    assert reply.paging_state == ""


def test_a_comment_id_must_be_a_time_uuid(api):
    error = failure(
        api.comments.CommentOnVideo,
        CommentOnVideoRequest(
            video_id=new_id(),
            user_id=new_id(),
            comment_id=TimeUuid(value=str(uuid.uuid4())),
            comment="hello",
        ),
    )
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert "comment_id" in error.details()


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"page_size": 0}, "page_size"), ({"page_size": 5, "paging_state": "junk"}, "paging_state")],
)
def test_page_sizes_and_paging_states_are_checked(api, fields, named):
    error = failure(
        api.comments.GetUserComments, GetUserCommentsRequest(user_id=new_id(), **fields)
    )
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert named in error.details()
