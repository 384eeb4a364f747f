"""Make videos' rating counters agree with their rating rows: `make reconcile-ratings ARGS=ID...`.

(`python -m services.ratings.reconcile VIDEO_ID [VIDEO_ID ...]` in the venv.) For each video it
carries out the rating moves whose callers gave up, then counts the video's rating rows and adds
the difference to its counters (counters can only be incremented). Safe to run while the site
serves; what it guarantees then is in docs/reliability.md ("Ratings and their counters").
"""

import argparse
import uuid

from services.common import config
from services.common.cassandra import CassandraSettings
from services.ratings.repository import RatingsRepository


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.ratings.reconcile", description=__doc__.splitlines()[0]
    )
    parser.add_argument("video_ids", nargs="+", type=uuid.UUID, metavar="VIDEO_ID")
    args = parser.parse_args(argv)

    settings = CassandraSettings.from_config(config.load()["CASSANDRA"])
    cluster, session = settings.connect(settings.keyspace)
    try:
        repository = RatingsRepository(session)
        for video_id in args.video_ids:
            (count, total), (wanted_count, wanted_total) = repository.reconcile(video_id)
            if (count, total) == (wanted_count, wanted_total):
                print(f"{video_id}: {count} rating(s), total {total}: already right")
            else:
                print(
                    f"{video_id}: counters said {count} rating(s), total {total}; "
                    f"corrected to {wanted_count}, total {wanted_total}"
                )
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
