"""The comments service's orchestration, with nameko's worker_factory (no broker, no database)."""

import uuid

import pytest
from cassandra.util import datetime_from_uuid1, uuid_from_time
from nameko.testing.services import worker_factory

from services.comments.service import CommentsService
from services.common.errors import InvalidArgument
from tests.unit.fakes import FakeCommentsRepository, PublishedEvents


@pytest.fixture
def service():
    return worker_factory(
        CommentsService, repository=FakeCommentsRepository(), publish=PublishedEvents()
    )


def test_a_comment_is_stored_then_announced_at_its_id_s_time(service):
    comment_id = uuid_from_time(1_765_000_000.25)
    video_id, user_id = uuid.uuid4(), uuid.uuid4()

    service.comment_on_video(
        video_id=str(video_id), user_id=str(user_id), comment_id=str(comment_id), comment="Nice"
    )

    assert service.repository.comments_added == [
        {"video_id": video_id, "user_id": user_id, "comment_id": comment_id, "comment": "Nice"}
    ]
    [event] = service.publish.named("user_commented_on_video")
    assert event["comment_id"] == str(comment_id)
    assert event["comment_timestamp"].startswith(
        datetime_from_uuid1(comment_id).strftime("%Y-%m-%dT%H:%M:%S.250")
    )


def test_a_comment_id_that_is_not_a_timeuuid_is_refused_before_anything_is_stored(service):
    with pytest.raises(InvalidArgument) as error:
        service.comment_on_video(
            video_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()),
            comment_id=str(uuid.uuid4()),  # version 4
            comment="Nice",
        )
    assert error.value.field == "comment_id"
    assert service.repository.comments_added == []
    assert service.publish == []


def test_a_paging_state_pages_only_the_list_it_came_from(service):
    video_id = str(uuid.uuid4())
    page = service.get_video_comments(video_id=video_id, page_size=5)
    assert page["paging_state"]

    again = service.get_video_comments(
        video_id=video_id, page_size=5, paging_state=page["paging_state"]
    )
    assert service.repository.pages_asked[-1][-1] == b"next-page"  # the driver's state, back
    assert again["video_id"] == video_id

    with pytest.raises(InvalidArgument) as other_video:
        service.get_video_comments(
            video_id=str(uuid.uuid4()), page_size=5, paging_state=page["paging_state"]
        )
    with pytest.raises(InvalidArgument) as user_list:
        service.get_user_comments(user_id=video_id, page_size=5, paging_state=page["paging_state"])
    assert other_video.value.field == user_list.value.field == "paging_state"


@pytest.mark.parametrize("page_size", [0, 101, -1])
def test_a_page_size_out_of_range_is_named(service, page_size):
    with pytest.raises(InvalidArgument) as error:
        service.get_video_comments(video_id=str(uuid.uuid4()), page_size=page_size)
    assert error.value.field == "page_size"
    assert service.repository.pages_asked == []
