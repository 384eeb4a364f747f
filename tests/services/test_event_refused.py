"""An event the broker refuses (a nack: a quorum queue whose leader just went away, or a full
queue) ends the call that published it with BackendUnavailable, which the gateway answers as
UNAVAILABLE, not as an unexpected error (INTERNAL); the caller's repeated call, which the write
allows, publishes the event again."""

import kombu
import pytest
from nameko import config as nameko_config
from nameko.standalone.events import get_event_exchange

from services.common.errors import BackendUnavailable
from services.videos.events import YOUTUBE_VIDEO_ADDED
from tests.services.test_videos import clock, new_video, videos  # noqa: F401 (fixtures)


def test_a_refused_event_is_backend_unavailable_and_the_repeated_call_publishes_it(
    videos,  # noqa: F811 (the fixture)
    expect_event,
):
    refusing = kombu.Queue(
        "refusing",
        exchange=get_event_exchange("videos"),
        routing_key=YOUTUBE_VIDEO_ADDED.name,
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    video = new_video()
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        refusing(connection.default_channel).declare()
        with pytest.raises(BackendUnavailable, match="did not take the youtube_video_added event"):
            videos.submit_youtube_video(**video)
        refusing(connection.default_channel).delete()

    with expect_event("videos", YOUTUBE_VIDEO_ADDED.name) as event:
        videos.submit_youtube_video(**video)
    assert event.get()["video_id"] == video["video_id"]
