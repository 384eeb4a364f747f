"""Sample data for a new site, loaded through the public gRPC API as KillrVideo's generator does:
users, YouTube videos (real, well-known ones) with tags, comments, ratings and plays.

The users' password is made up at load time and written, with their emails, to
`<var>/sample-users.json` (readable by its owner only), never printed.
"""

import json
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cassandra.util import uuid_from_time

from killrvideo.comments.comments_service_pb2 import CommentOnVideoRequest
from killrvideo.comments.comments_service_pb2_grpc import CommentsServiceStub
from killrvideo.common.common_types_pb2 import TimeUuid, Uuid
from killrvideo.ratings.ratings_service_pb2 import RateVideoRequest
from killrvideo.ratings.ratings_service_pb2_grpc import RatingsServiceStub
from killrvideo.statistics.statistics_service_pb2 import RecordPlaybackStartedRequest
from killrvideo.statistics.statistics_service_pb2_grpc import StatisticsServiceStub
from killrvideo.user_management.user_management_service_pb2 import CreateUserRequest
from killrvideo.user_management.user_management_service_pb2_grpc import UserManagementServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2 import SubmitYouTubeVideoRequest
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub

CALL_TIMEOUT = 10

USERS = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
]

# (YouTube id, name, tags): famous music videos, so the previews and players work.
VIDEOS = [
    ("dQw4w9WgXcQ", "Rick Astley - Never Gonna Give You Up", ["pop", "80s", "dance"]),
    ("fJ9rUzIMcZQ", "Queen - Bohemian Rhapsody", ["rock", "70s", "classic rock"]),
    ("hTWKbfoikeg", "Nirvana - Smells Like Teen Spirit", ["rock", "90s", "grunge"]),
    ("9bZkp7q19f0", "PSY - Gangnam Style", ["k-pop", "dance", "pop"]),
    ("kJQP7kiw5Fk", "Luis Fonsi - Despacito ft. Daddy Yankee", ["latin", "pop", "reggaeton"]),
    ("OPf0YbXqDm0", "Mark Ronson - Uptown Funk ft. Bruno Mars", ["funk", "pop", "dance"]),
    ("JGwWNGJdvx8", "Ed Sheeran - Shape of You", ["pop", "acoustic"]),
    ("YQHsXMglC9A", "Adele - Hello", ["pop", "ballad", "soul"]),
    ("RgKAFK5djSk", "Wiz Khalifa - See You Again ft. Charlie Puth", ["rap", "pop", "ballad"]),
    ("60ItHLz5WEA", "Alan Walker - Faded", ["electronic", "dance"]),
    ("CevxZvSJLk8", "Katy Perry - Roar", ["pop", "anthem"]),
    ("e-ORhEE9VVg", "Taylor Swift - Blank Space", ["pop", "country pop"]),
]

COMMENTS = [
    "Still a classic.",
    "Who is watching this in 2026?",
    "The bass line in this one!",
    "Played it three times in a row.",
    "Better than I remembered.",
]


def uuid_message(value) -> Uuid:
    return Uuid(value=str(value))


def load(channel, say, var_dir: Path, seed: int = 2026) -> dict[str, int]:
    """Loads the sample data through `channel`; returns how many of each thing it made."""
    pick = random.Random(seed)  # the same site every time, but for the ids and the password
    users = UserManagementServiceStub(channel)
    videos = VideoCatalogServiceStub(channel)
    comments = CommentsServiceStub(channel)
    ratings = RatingsServiceStub(channel)
    statistics = StatisticsServiceStub(channel)

    password = secrets.token_urlsafe(12)
    user_ids, accounts = [], []
    for first, last in USERS:
        user_id = uuid.uuid4()
        email = f"{first.lower()}.{last.lower()}@example.com"
        users.CreateUser(
            CreateUserRequest(
                user_id=uuid_message(user_id),
                first_name=first,
                last_name=last,
                email=email,
                password=password,
            ),
            timeout=CALL_TIMEOUT,
        )
        user_ids.append(user_id)
        accounts.append(email)
    credentials = var_dir / "sample-users.json"
    credentials.touch(mode=0o600)
    credentials.write_text(json.dumps({"emails": accounts, "password": password}, indent=2))
    say(f"Sample users' emails and password: {credentials}")

    video_ids = []
    for youtube_id, name, tags in VIDEOS:
        video_id = uuid.uuid4()
        videos.SubmitYouTubeVideo(
            SubmitYouTubeVideoRequest(
                video_id=uuid_message(video_id),
                user_id=uuid_message(pick.choice(user_ids)),
                name=name,
                description=f"{name}, the official video.",
                tags=tags,
                you_tube_video_id=youtube_id,
            ),
            timeout=CALL_TIMEOUT,
        )
        video_ids.append(video_id)

    now = datetime.now(UTC)
    made = {"users": len(user_ids), "videos": len(video_ids), "comments": 0, "ratings": 0}
    made["plays"] = 0
    for video_id in video_ids:
        for minutes, user_id in enumerate(pick.sample(user_ids, 2)):
            comments.CommentOnVideo(
                CommentOnVideoRequest(
                    video_id=uuid_message(video_id),
                    user_id=uuid_message(user_id),
                    comment_id=TimeUuid(
                        value=str(uuid_from_time(now - timedelta(minutes=minutes)))
                    ),
                    comment=pick.choice(COMMENTS),
                ),
                timeout=CALL_TIMEOUT,
            )
            made["comments"] += 1
        for user_id in pick.sample(user_ids, 3):
            ratings.RateVideo(
                RateVideoRequest(
                    video_id=uuid_message(video_id),
                    user_id=uuid_message(user_id),
                    rating=pick.randint(2, 5),
                ),
                timeout=CALL_TIMEOUT,
            )
            made["ratings"] += 1
        for _ in range(pick.randint(1, 8)):
            statistics.RecordPlaybackStarted(
                RecordPlaybackStartedRequest(video_id=uuid_message(video_id)), timeout=CALL_TIMEOUT
            )
            made["plays"] += 1
    return made
