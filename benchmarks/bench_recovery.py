"""Recovery from a database outage: the seconds from the database's return to the first call of
each domain service that it answers.

The end-to-end stack (tests/e2e/stack.py) with localcql as one of its processes, durable: localcql
is killed (SIGKILL), stays down for OUTAGE_SECONDS, and starts again on the same data. From the
moment it says it is ready, a caller per service calls one read of that service through the
gateway, again and again, until it is answered. The driver's reconnection waits grow to 2 s at
most (services/common/cassandra.py). Target: every service within 5 s. Printed, never asserted.
"""

import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc

from killrvideo.comments.comments_service_pb2 import GetVideoCommentsRequest
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.ratings.ratings_service_pb2 import GetRatingRequest
from killrvideo.search.search_service_pb2 import SearchVideosRequest
from killrvideo.statistics.statistics_service_pb2 import GetNumberOfPlaysRequest
from killrvideo.suggested_videos.suggested_videos_service_pb2 import GetRelatedVideosRequest
from killrvideo.user_management.user_management_service_pb2 import GetUserProfileRequest
from killrvideo.video_catalog.video_catalog_service_pb2 import GetVideoRequest
from localcql.testing import READY_PREFIX
from tests.e2e.conftest import Stubs, seconds_until_answered
from tests.e2e.stack import START_DEADLINE_SECONDS, localcql_command, running_stack

OUTAGE_SECONDS = 35
GIVE_UP_SECONDS = 120
TARGET = "every service answers within 5 s of the database's return"


def reads(api: Stubs) -> dict:
    """One call per domain service that needs the database."""
    some_id = Uuid(value=str(uuid.uuid4()))
    return {
        "videos": (api.videos.GetVideo, GetVideoRequest(video_id=some_id)),
        "users": (api.users.GetUserProfile, GetUserProfileRequest(user_ids=[some_id])),
        "comments": (
            api.comments.GetVideoComments,
            GetVideoCommentsRequest(video_id=some_id, page_size=5),
        ),
        "ratings": (api.ratings.GetRating, GetRatingRequest(video_id=some_id)),
        "statistics": (
            api.statistics.GetNumberOfPlays,
            GetNumberOfPlaysRequest(video_ids=[some_id]),
        ),
        "search": (api.search.SearchVideos, SearchVideosRequest(query="cats", page_size=5)),
        "suggestions": (
            api.suggestions.GetRelatedVideos,
            GetRelatedVideosRequest(video_id=some_id, page_size=5),
        ),
    }


def run(data_dir) -> dict:
    with (
        running_stack(localcql_data_dir=data_dir) as stack,
        grpc.insecure_channel(stack.address) as channel,
    ):
        calls = reads(Stubs(channel))
        database = stack.processes["localcql"]
        database.popen.send_signal(signal.SIGKILL)
        database.popen.wait()
        time.sleep(OUTAGE_SECONDS)  # the outage itself
        stack.start("localcql", localcql_command(int(stack.env["CASSANDRA_PORT"]), data_dir))
        stack.processes["localcql"].wait_for_line(READY_PREFIX, START_DEADLINE_SECONDS)
        back = time.monotonic()
        with ThreadPoolExecutor(len(calls)) as pool:
            waits = {
                name: pool.submit(seconds_until_answered, call, request, back, GIVE_UP_SECONDS)
                for name, (call, request) in calls.items()
            }
            return {name: wait.result() for name, wait in waits.items()}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kv-bench-recovery-") as data_dir:
        seconds = run(data_dir)
    print(f"the database (localcql) down for {OUTAGE_SECONDS} s, then back; target: {TARGET}")
    for name, value in seconds.items():
        shown = f"{value:.1f} s" if value is not None else f"not within {GIVE_UP_SECONDS} s"
        print(f"  {name:<12} first answer after {shown}")
