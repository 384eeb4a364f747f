"""The comments service over real nameko RPC, on RabbitMQ and localcql."""

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cassandra.util import uuid_from_time

from services.comments.events import USER_COMMENTED_ON_VIDEO
from services.comments.schemas import MAX_COMMENT_LENGTH
from services.comments.service import CommentsService
from services.common.errors import InvalidArgument
from tests.paging import walk

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def comments(start_services, rpc_client):
    start_services(CommentsService)
    return rpc_client("comments")


def comment_id(moment: datetime) -> str:
    return str(uuid_from_time(moment))


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def discussion(comments):
    """Five comments on one video by two users, a minute apart, listed newest first."""
    video_id, ada, bob = (str(uuid.uuid4()) for _ in range(3))
    written = []
    for minute, user_id in enumerate([ada, bob, ada, ada, bob]):
        comment = {
            "video_id": video_id,
            "user_id": user_id,
            "comment_id": comment_id(NOON + timedelta(minutes=minute)),
            "comment": f"comment {minute}",
        }
        assert comments.comment_on_video(**comment) == {}
        written.append(comment)
    comments.comment_on_video(  # on another video, before the others
        video_id=str(uuid.uuid4()),
        user_id=ada,
        comment_id=comment_id(NOON - timedelta(minutes=1)),
        comment="elsewhere",
    )
    return video_id, ada, written[::-1]


def test_a_videos_comments_newest_first_with_their_timestamps(comments, discussion):
    video_id, _, newest_first = discussion
    page = comments.get_video_comments(video_id=video_id, page_size=10)
    assert page["video_id"] == video_id
    assert page["paging_state"] == ""
    assert page["comments"] == [
        {
            "comment_id": comment["comment_id"],
            "user_id": comment["user_id"],
            "comment": comment["comment"],
            "comment_timestamp": iso(NOON + timedelta(minutes=int(comment["comment"][-1]))),
        }
        for comment in newest_first
    ]


def test_a_users_comments_across_videos(comments, discussion):
    video_id, ada, newest_first = discussion
    page = comments.get_user_comments(user_id=ada, page_size=10)
    assert page["user_id"] == ada
    listed = [(c["video_id"], c["comment"]) for c in page["comments"]]
    assert listed == [
        *((video_id, c["comment"]) for c in newest_first if c["user_id"] == ada),
        (listed[-1][0], "elsewhere"),
    ]
    assert listed[-1][0] != video_id


@pytest.mark.parametrize("page_size", [1, 2, 4])
def test_paging_walks_every_comment_once(comments, discussion, page_size):
    video_id, _, newest_first = discussion
    pages = walk(
        functools.partial(comments.get_video_comments, video_id=video_id), page_size, "comments"
    )
    assert [c["comment_id"] for page in pages for c in page] == [
        c["comment_id"] for c in newest_first
    ]


def test_comments_ending_at_a_page_boundary_end_with_an_empty_last_page(comments, discussion):
    """As Cassandra's: the last full page carries a paging state; the next page is empty."""
    video_id, _, newest_first = discussion
    page = comments.get_video_comments(video_id=video_id, page_size=len(newest_first))
    assert len(page["comments"]) == len(newest_first)
    assert page["paging_state"]
    last = comments.get_video_comments(
        video_id=video_id, page_size=len(newest_first), paging_state=page["paging_state"]
    )
    assert last == {"video_id": video_id, "comments": [], "paging_state": ""}


@pytest.mark.parametrize("index", [0, 2, 4])
def test_a_starting_comment_begins_the_page(comments, discussion, index):
    video_id, _, newest_first = discussion
    page = comments.get_video_comments(
        video_id=video_id, page_size=2, starting_comment_id=newest_first[index]["comment_id"]
    )
    assert [c["comment_id"] for c in page["comments"]] == [
        c["comment_id"] for c in newest_first[index : index + 2]
    ]


def test_the_web_apps_paging_from_the_head(comments, discussion):
    """Ask for one comment to learn the head, then page from it with its paging states."""
    video_id, _, newest_first = discussion
    head = comments.get_video_comments(video_id=video_id, page_size=1)["comments"][0]
    comments.comment_on_video(  # newer than the head: not part of this walk
        video_id=video_id,
        user_id=str(uuid.uuid4()),
        comment_id=comment_id(NOON + timedelta(hours=1)),
        comment="late",
    )
    from_head = functools.partial(
        comments.get_video_comments, video_id=video_id, starting_comment_id=head["comment_id"]
    )
    pages = walk(from_head, 2, "comments")
    assert [c["comment"] for page in pages for c in page] == [c["comment"] for c in newest_first]


def test_no_comments_is_an_empty_last_page(comments):
    video_id = str(uuid.uuid4())
    assert comments.get_video_comments(video_id=video_id, page_size=5) == {
        "video_id": video_id,
        "comments": [],
        "paging_state": "",
    }


def test_commenting_again_with_the_same_id_is_a_harmless_retry(comments, cql):
    comment = {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "comment_id": comment_id(NOON),
        "comment": "once",
    }
    comments.comment_on_video(**comment)
    comments.comment_on_video(**comment)
    assert (
        len(comments.get_video_comments(video_id=comment["video_id"], page_size=5)["comments"]) == 1
    )
    rows = cql.execute(
        "SELECT videoid FROM comments_by_user WHERE userid = %s", [uuid.UUID(comment["user_id"])]
    )
    assert len(list(rows)) == 1


def test_user_commented_on_video_is_published_after_the_write(comments, expect_event):
    comment = {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "comment_id": comment_id(NOON),
        "comment": "First!",
    }
    with expect_event("comments", USER_COMMENTED_ON_VIDEO.name) as event:
        comments.comment_on_video(**comment)
    assert event.get() == {
        "video_id": comment["video_id"],
        "user_id": comment["user_id"],
        "comment_id": comment["comment_id"],
        "comment_timestamp": iso(NOON),
    }
    assert comments.get_user_comments(user_id=comment["user_id"], page_size=1)["comments"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("video_id", "not-a-uuid"),
        ("user_id", ""),
        ("comment_id", str(uuid.uuid4())),  # version 4: not a TimeUUID
        ("comment", ""),
        ("comment", "x" * (MAX_COMMENT_LENGTH + 1)),
    ],
)
def test_invalid_comments_are_refused_by_field(comments, field, value):
    comment = {
        "video_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "comment_id": comment_id(NOON),
        "comment": "fine",
        field: value,
    }
    with pytest.raises(InvalidArgument) as error:
        comments.comment_on_video(**comment)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"starting_comment_id": "nope"}, "starting_comment_id"),
        ({"paging_state": "garbage!"}, "paging_state"),
    ],
)
def test_invalid_list_requests_are_refused_by_field(comments, request_fields, field):
    with pytest.raises(InvalidArgument) as error:
        comments.get_video_comments(
            video_id=str(uuid.uuid4()), **{"page_size": 5, **request_fields}
        )
    assert error.value.field == field


def test_a_paging_state_only_pages_its_own_list(comments, discussion):
    video_id, ada, _ = discussion
    video_state = comments.get_video_comments(video_id=video_id, page_size=1)["paging_state"]
    user_state = comments.get_user_comments(user_id=ada, page_size=1)["paging_state"]
    assert video_state and user_state
    for list_page, paging_state in [
        (functools.partial(comments.get_video_comments, video_id=str(uuid.uuid4())), video_state),
        (functools.partial(comments.get_video_comments, video_id=video_id), user_state),
        (functools.partial(comments.get_user_comments, user_id=ada), video_state),
    ]:
        with pytest.raises(InvalidArgument) as error:
            list_page(page_size=1, paging_state=paging_state)
        assert error.value.field == "paging_state"
