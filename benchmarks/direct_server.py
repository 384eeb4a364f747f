"""The architecture's baseline for bench_api: GetVideo answered by a plain grpcio server straight
from cassandra-driver, with no gateway, no broker and no domain service in between.

It reads the same row of the same localcql as the videos service and answers the same message,
so that bench_api can print what the gateway, RabbitMQ and nameko cost on top of the least a
Python server must do for this call. It serves only GetVideo (anything else is UNIMPLEMENTED),
and prints one line, `ready PORT`, once it listens.

    python -m benchmarks.direct_server CONTACT_POINT CQL_PORT KEYSPACE
"""

import sys
import uuid
from concurrent import futures

import grpc
from cassandra.cluster import Cluster
from google.protobuf.timestamp_pb2 import Timestamp

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog import video_catalog_service_pb2 as videos_pb2
from killrvideo.video_catalog import video_catalog_service_pb2_grpc as videos_grpc

# grpcio's synchronous server runs each call on a thread of this pool: enough for bench_api's
# 32 concurrent callers to be served at once, as the gateway serves them.
THREADS = 32


class DirectVideoCatalog(videos_grpc.VideoCatalogServiceServicer):
    def __init__(self, session):
        self.session = session
        self.select_video = session.prepare(
            "SELECT videoid, userid, name, description, location, location_type, tags, "
            "added_date FROM videos WHERE videoid = ?"
        )

    def GetVideo(self, request, context):
        try:
            video_id = uuid.UUID(request.video_id.value)
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "video_id: not a UUID")
        row = self.session.execute(self.select_video, (video_id,)).one()
        if row is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"No video has the video_id {video_id}")
        added_date = Timestamp()
        added_date.FromDatetime(row.added_date)
        return videos_pb2.GetVideoResponse(
            video_id=Uuid(value=str(row.videoid)),
            user_id=Uuid(value=str(row.userid)),
            name=row.name,
            description=row.description or "",
            location=row.location,
            location_type=row.location_type,
            tags=sorted(row.tags or ()),
            added_date=added_date,
        )


def main(contact_point: str, cql_port: str, keyspace: str) -> None:
    cluster = Cluster([contact_point], port=int(cql_port), protocol_version=4)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=THREADS))
    videos_grpc.add_VideoCatalogServiceServicer_to_server(
        DirectVideoCatalog(cluster.connect(keyspace)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()  # until bench_api closes it
    finally:
        server.stop(grace=None)
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
