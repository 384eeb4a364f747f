"""Users, videos and ratings written through the gateway while a fault is made, each
acknowledged write checked afterwards (comments: tests/e2e/test_faults.py's CommentLoad); and
Load, the threads' lifecycle that every one of these loads shares."""

import contextlib
import threading
import uuid
from collections import Counter

import grpc

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.ratings.ratings_service_pb2 import GetUserRatingRequest, RateVideoRequest
from killrvideo.ratings.ratings_service_pb2_grpc import RatingsServiceStub
from killrvideo.search.search_service_pb2 import SearchVideosRequest
from killrvideo.search.search_service_pb2_grpc import SearchServiceStub
from killrvideo.user_management.user_management_service_pb2 import (
    CreateUserRequest,
    GetUserProfileRequest,
)
from killrvideo.user_management.user_management_service_pb2_grpc import UserManagementServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from tests.e2e.conftest import tagged_video
from tests.waiting import wait_until

CALL_DEADLINE = 5
# A sign-up costs its service tens of milliseconds of CPU (services/users/passwords.py): a few a
# second are a load, not the whole machine's work.
PAUSE_SECONDS = 0.2
MOST_PROFILES_A_CALL = 20  # GetUserProfile's limit


class Load:
    """Threads calling the gateway at `address` (on `channel`) until stopped, each started by
    `start`; as a context manager, stopped and its channel closed at the end. A call still running
    two deadlines after the stop hung, and fails the test."""

    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        self.stopping = threading.Event()
        self.threads = []

    def start(self, *loops) -> None:
        for loop in loops:
            thread = threading.Thread(target=loop)
            thread.start()
            self.threads.append(thread)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.channel.close()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(CALL_DEADLINE * 2)
        assert not any(thread.is_alive() for thread in self.threads), "a call hung"


class Writer(Load):
    """A thread making one kind of write (its subclass's `write`) until stopped, `pause` seconds
    apart: what identifies each acknowledged write is kept in `acknowledged`, how the others
    ended in `failures`."""

    pause = PAUSE_SECONDS

    def __init__(self, address: str):
        super().__init__(address)
        self.acknowledged = []
        self.failures = Counter()
        self.start(self.run)

    def run(self):
        while not self.stopping.is_set():
            try:
                written = self.write()
            except grpc.RpcError as error:
                self.failures[error.code()] += 1
            else:
                self.acknowledged.append(written)
            self.stopping.wait(self.pause)  # the pace of the writes


class UserWrites(Writer):
    def write(self) -> str:
        user_id = str(uuid.uuid4())
        UserManagementServiceStub(self.channel).CreateUser(
            CreateUserRequest(
                user_id=Uuid(value=user_id),
                first_name="Under",
                last_name="Load",
                email=f"{user_id}@example.com",
                password="a password under load",
            ),
            timeout=CALL_DEADLINE,
        )
        return user_id

    def lost(self) -> int:
        """How many acknowledged users have no profile."""
        users = UserManagementServiceStub(self.channel)
        found = set()
        for start in range(0, len(self.acknowledged), MOST_PROFILES_A_CALL):
            batch = self.acknowledged[start : start + MOST_PROFILES_A_CALL]
            request = GetUserProfileRequest(user_ids=[Uuid(value=user) for user in batch])
            reply = users.GetUserProfile(request, timeout=CALL_DEADLINE)
            found |= {profile.user_id.value for profile in reply.profiles}
        return len(set(self.acknowledged) - found)


class RatingWrites(Writer):
    def write(self) -> tuple[str, str, int]:
        video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        rating = len(self.acknowledged) % 5 + 1
        RatingsServiceStub(self.channel).RateVideo(
            RateVideoRequest(
                video_id=Uuid(value=video_id), user_id=Uuid(value=user_id), rating=rating
            ),
            timeout=CALL_DEADLINE,
        )
        return video_id, user_id, rating

    def lost(self) -> int:
        """How many acknowledged ratings are not what their user gave."""
        ratings = RatingsServiceStub(self.channel)

        def stored(video_id, user_id) -> int:
            request = GetUserRatingRequest(
                video_id=Uuid(value=video_id), user_id=Uuid(value=user_id)
            )
            return ratings.GetUserRating(request, timeout=CALL_DEADLINE).rating

        return sum(stored(video, user) != rating for video, user, rating in self.acknowledged)


class VideoWrites(Writer):
    """Videos, each under a tag of its own, one after the other: each one's event must reach the
    search index, through the queues the fault hit."""

    pause = 0.0

    def write(self) -> tuple[str, str]:
        tag, request = tagged_video("under load")
        VideoCatalogServiceStub(self.channel).SubmitYouTubeVideo(request, timeout=CALL_DEADLINE)
        return tag, request.video_id.value

    def events_lost(self, within: float) -> int:
        """How many acknowledged videos are not found by their tag `within` seconds from now
        (an event retried with backoff takes a while)."""
        search = SearchServiceStub(self.channel)

        def indexed(tag, video_id) -> bool:
            request = SearchVideosRequest(query=tag, page_size=5)
            reply = search.SearchVideos(request, timeout=CALL_DEADLINE)
            return [video.video_id.value for video in reply.videos] == [video_id]

        def not_indexed() -> int:
            return sum(not indexed(tag, video_id) for tag, video_id in self.acknowledged)

        with contextlib.suppress(AssertionError):
            wait_until(lambda: not_indexed() == 0, within, "every video indexed")
        return not_indexed()
