"""AMQP_URI listing several RabbitMQ nodes (services/common/brokers.py), the first of them down:
every process of the site (the services' consumers, replies and event publishers, the gateway's
call channel, the start-up checks) and the tools (make run's vhost check, the dead-letter and
queue-migration commands) connect through the node that answers, and no log line shows a node's
password."""

import uuid

import grpc

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.search.search_service_pb2 import SearchVideosRequest
from killrvideo.search.search_service_pb2_grpc import SearchServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2 import (
    GetVideoRequest,
    SubmitYouTubeVideoRequest,
)
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from scripts import vhosts
from services.common import brokers, queue_migration
from services.common.dead_letters import DeadLetters
from tests.e2e.stack import free_port, running_stack, throwaway_vhost
from tests.waiting import wait_until


def test_a_site_on_a_list_of_nodes_whose_first_is_down():
    with throwaway_vhost() as live:
        down_port = free_port()  # nothing listens there
        down = f"pyamqp://guest:guest@127.0.0.1:{down_port}/{brokers.vhost_of(live)}"
        amqp_uri = f"{down};{live}"
        with running_stack(amqp_uri=amqp_uri) as stack:
            with grpc.insecure_channel(stack.address) as channel:
                videos, search = VideoCatalogServiceStub(channel), SearchServiceStub(channel)
                video_id, tag = str(uuid.uuid4()), f"t{uuid.uuid4().hex[:12]}"
                videos.SubmitYouTubeVideo(
                    SubmitYouTubeVideoRequest(
                        video_id=Uuid(value=video_id),
                        user_id=Uuid(value=str(uuid.uuid4())),
                        name="two nodes",
                        tags=[tag],
                        you_tube_video_id="dQw4w9WgXcQ",
                    ),
                    timeout=10,
                )
                videos.GetVideo(GetVideoRequest(video_id=Uuid(value=video_id)), timeout=10)

                def indexed():
                    request = SearchVideosRequest(query=tag, page_size=5)
                    reply = search.SearchVideos(request, timeout=10)
                    return [v.video_id.value for v in reply.videos] == [video_id]

                wait_until(indexed, 30, "the video's event reaches search through the list")

            assert vhosts.consumers(amqp_uri)["rpc-videos"] == 1
            assert vhosts.broker_of(amqp_uri).startswith(f"127.0.0.1:{down_port}, 127.0.0.1:")
            assert "guest" not in vhosts.broker_of(amqp_uri), "never the password"
            assert set(DeadLetters(amqp_uri).counts().values()) <= {0}
            assert queue_migration.migrate(amqp_uri, queue_migration.site_queues(), print) == []
            logs = "".join(path.read_text() for path in stack.logs.iterdir())
            assert "guest:guest@" not in logs, "no node's password in any process's log"
