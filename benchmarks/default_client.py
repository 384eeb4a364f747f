"""GetVideo latencies from a grpcio client in its default configuration, for bench_api.

The benchmarks' own clients run with grpcio's EventEngine client switched off (see
benchmarks/__main__.py); this process runs without that, so that bench_api can print, beside its
figures, what grpcio's default client adds to the same call in the same rounds. It reads a count
of calls per line on stdin, makes them back to back, and answers each line with one line: their
latencies in seconds, as JSON.

    python -m benchmarks.default_client ADDRESS VIDEO_ID
"""

import json
import sys

import grpc

from benchmarks import load
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog import video_catalog_service_pb2 as videos_pb2
from killrvideo.video_catalog import video_catalog_service_pb2_grpc as videos_grpc


def main(address: str, video_id: str) -> None:
    with grpc.insecure_channel(address) as channel:
        videos = videos_grpc.VideoCatalogServiceStub(channel)
        request = videos_pb2.GetVideoRequest(video_id=Uuid(value=video_id))
        for line in sys.stdin:
            taken = load.latencies(lambda: videos.GetVideo(request, timeout=10), int(line))
            print(json.dumps(taken), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
