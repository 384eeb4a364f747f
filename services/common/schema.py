"""Apply every service's CQL schema, idempotently: `python -m services.common.schema`.

Each service ships `services/<name>/schema.cql`: `CREATE ... IF NOT EXISTS` statements for the
tables it owns, unqualified (they go into the configured keyspace), each ending with `;` at the end
of a line. This command creates the keyspace with the configured replication, applies every file,
then creates the empty keyspace `kv_init_done`, the readiness signal KillrVideo's tools wait for.
`make run`, the tests and docker/'s schema job all run it.
"""

import argparse
import logging
import pathlib

from services.common import config
from services.common.cassandra import CassandraSettings

SERVICES = pathlib.Path(__file__).resolve().parent.parent
READY_KEYSPACE = "kv_init_done"

log = logging.getLogger(__name__)


def schema_files() -> list[pathlib.Path]:
    return sorted(SERVICES.glob("*/schema.cql"))


def statements(cql: str) -> list[str]:
    lines = [line for line in cql.splitlines() if not line.strip().startswith("--")]
    text = "\n".join(lines)
    return [statement.strip() for statement in text.split(";\n") if statement.strip().strip(";")]


def replication(settings: CassandraSettings) -> str:
    if settings.replication_factor == 1:
        return "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    return (
        f"{{'class': 'NetworkTopologyStrategy', "
        f"'{settings.local_dc}': {settings.replication_factor}}}"
    )


def apply(settings: CassandraSettings) -> list[str]:
    """Create the keyspace and every table; returns the files applied."""
    cluster, session = settings.connect(keyspace=None)
    try:
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {settings.keyspace} "
            f"WITH replication = {replication(settings)}"
        )
        session.set_keyspace(settings.keyspace)
        applied = []
        for path in schema_files():
            for statement in statements(path.read_text()):
                session.execute(statement)
            applied.append(path.parent.name)
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {READY_KEYSPACE} "
            f"WITH replication = {replication(settings)}"
        )
        return applied
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = CassandraSettings.from_config(config.load()["CASSANDRA"])
    applied = apply(settings)
    print(
        f"schema applied to keyspace {settings.keyspace} at {settings.address}: "
        + (", ".join(applied) or "no service schemas yet")
    )


if __name__ == "__main__":
    main()
