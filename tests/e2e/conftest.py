"""End-to-end tests: the whole backend in subprocesses (stack.py), driven through the gateway by
the official grpcio client, as the KillrVideo web app drives it.

grpcio does not work in an eventlet-monkey-patched process, and the project's pytest run is
patched (tests/eventlet_monkey_patch.py, loaded by pyproject's addopts). So these tests run in a
pytest process of their own, with that plugin blocked:

    .venv/bin/python -m pytest -p no:tests.eventlet_monkey_patch tests/e2e

In a patched run they are skipped, with that command as the reason.
"""

import sys
import time
import uuid
from collections import Counter

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc

from killrvideo.comments import comments_service_pb2_grpc
from killrvideo.common.common_types_pb2 import TimeUuid, Uuid
from killrvideo.ratings import ratings_service_pb2_grpc
from killrvideo.search import search_service_pb2_grpc
from killrvideo.statistics import statistics_service_pb2_grpc
from killrvideo.suggested_videos import suggested_videos_service_pb2_grpc
from killrvideo.uploads import uploads_service_pb2_grpc
from killrvideo.user_management import user_management_service_pb2, user_management_service_pb2_grpc
from killrvideo.video_catalog import video_catalog_service_pb2, video_catalog_service_pb2_grpc
from tests.e2e.stack import running_stack

RUN_ALONE = "grpcio needs an unpatched process: pytest -p no:tests.eventlet_monkey_patch tests/e2e"
# Far above any answer's time, so a hang fails the test instead of stalling it.
CALL_TIMEOUT = 10


def eventlet_patched() -> bool:
    eventlet = sys.modules.get("eventlet")
    return eventlet is not None and eventlet.patcher.is_monkey_patched("socket")


def pytest_collection_modifyitems(config, items):
    if eventlet_patched():
        skip = pytest.mark.skip(reason=RUN_ALONE)
        for item in items:
            if "tests/e2e/" in str(item.path).replace("\\", "/"):
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """The figures the tests recorded with `record_property` (load held, faults injected, calls
    failed cleanly, writes and events lost, fuzz cases, memory), printed after the run, summed
    over a test's parameters: docs/reliability.md quotes them."""
    figures: dict[str, Counter] = {}
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when == "call" and report.user_properties:
                test = report.nodeid.rpartition("::")[2].partition("[")[0]
                figures.setdefault(test, Counter()).update(dict(report.user_properties))
    if figures:
        terminalreporter.write_sep("-", "figures")
    for test, values in figures.items():
        terminalreporter.write_line(
            f"{test}: " + ", ".join(f"{k} {v:g}" for k, v in values.items())
        )


@pytest.fixture(scope="session")
def stack():
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def channel(stack):
    with grpc.insecure_channel(stack.address) as channel:
        yield channel


class Stubs:
    def __init__(self, channel):
        self.users = user_management_service_pb2_grpc.UserManagementServiceStub(channel)
        self.videos = video_catalog_service_pb2_grpc.VideoCatalogServiceStub(channel)
        self.ratings = ratings_service_pb2_grpc.RatingsServiceStub(channel)
        self.comments = comments_service_pb2_grpc.CommentsServiceStub(channel)
        self.statistics = statistics_service_pb2_grpc.StatisticsServiceStub(channel)
        self.search = search_service_pb2_grpc.SearchServiceStub(channel)
        self.suggestions = suggested_videos_service_pb2_grpc.SuggestedVideoServiceStub(channel)
        self.uploads = uploads_service_pb2_grpc.UploadsServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)


@pytest.fixture(scope="session")
def api(channel):
    return Stubs(channel)


def new_id() -> Uuid:
    return Uuid(value=str(uuid.uuid4()))


def new_time_id() -> TimeUuid:
    return TimeUuid(value=str(uuid.uuid1()))


def failure(call, request) -> grpc.RpcError:
    """The error status of a call that must fail."""
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=CALL_TIMEOUT)
    return raised.value


# A database outage longer than any retry backoff would hide, and how soon after the database's
# return every service must answer again (issue 22: bounded recovery).
OUTAGE_SECONDS = 35
BACK_WITHIN_SECONDS = 5


def seconds_until_answered(call, request, since: float, give_up_after: float) -> float | None:
    """Seconds from `since` (a time.monotonic()) until `call` answers `request` (a reply, or a
    status other than UNAVAILABLE and DEADLINE_EXCEEDED: a NOT_FOUND read the database), trying
    again and again; None if it has not after `give_up_after` seconds."""
    unanswered = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    while time.monotonic() - since < give_up_after:
        try:
            call(request, timeout=1)
        except grpc.RpcError as error:
            if error.code() in unanswered:
                continue
        return time.monotonic() - since
    return None


@pytest.fixture
def user(api):
    """A registered user: (CreateUserRequest, user_id text)."""
    request = user_management_service_pb2.CreateUserRequest(
        user_id=new_id(),
        first_name="Ada",
        last_name="Lovelace",
        email=f"ada.{uuid.uuid4().hex[:10]}@example.com",
        password="correct horse battery staple",
    )
    api.users.CreateUser(request, timeout=CALL_TIMEOUT)
    return request


def tagged_video(name: str) -> tuple[str, video_catalog_service_pb2.SubmitYouTubeVideoRequest]:
    """A new video under a tag of its own, as (tag, SubmitYouTubeVideo request): searching for
    the tag finds that video alone, once its event has been indexed."""
    tag = f"t{uuid.uuid4().hex[:12]}"
    request = video_catalog_service_pb2.SubmitYouTubeVideoRequest(
        video_id=new_id(),
        user_id=new_id(),
        name=name,
        tags=[tag],
        you_tube_video_id="dQw4w9WgXcQ",
    )
    return tag, request


def submit_video(api, user_id: Uuid, name: str = "A video", tags=("cats",)):
    request = video_catalog_service_pb2.SubmitYouTubeVideoRequest(
        video_id=new_id(),
        user_id=user_id,
        name=name,
        description="A description",
        tags=list(tags),
        you_tube_video_id="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    )
    api.videos.SubmitYouTubeVideo(request, timeout=CALL_TIMEOUT)
    return request


def pages_from_the_head(call, request, items: str, start_at, page_size: int):
    """The web app's paging: learn the head of a list with page_size=1, then read pages starting
    at the head (inclusive), passing each page's paging_state to the next.

    `request` holds the list's fixed fields, `items` names the reply's list, and `start_at(head)`
    gives the request fields that start a page at an item. Returns (head, every item read).
    """
    first = type(request)(page_size=1)
    first.MergeFrom(request)
    head = getattr(call(first, timeout=CALL_TIMEOUT), items)[0]
    read, paging_state = [], ""
    while True:
        next_request = type(request)(
            page_size=page_size, paging_state=paging_state, **start_at(head)
        )
        next_request.MergeFrom(request)
        page = call(next_request, timeout=CALL_TIMEOUT)
        read.extend(getattr(page, items))
        paging_state = page.paging_state
        if not paging_state:
            return head, read
        assert len(getattr(page, items)) == page_size, "a page before the last one is full"
