"""One class per parameterized CQL type (set<text>, map<text, int>), not one per column per
response (docs/internals.md, "type_cache")."""

from functools import lru_cache

from cassandra import cqltypes

VERSIONS = {"cassandra-driver": "3.30.1"}
UPSTREAM = {"cassandra.cqltypes._CassandraType.apply_parameters": "ef14cdc5a10e0ff5"}

_build_parameterized_type = cqltypes._CassandraType.apply_parameters.__func__


@lru_cache(maxsize=1024)
def _parameterized_type(cls: type, subtypes: tuple, names: tuple | None) -> type:
    return _build_parameterized_type(cls, subtypes, names)


def cached_apply_parameters(cls, subtypes, names=None):
    return _parameterized_type(cls, tuple(subtypes), None if names is None else tuple(names))


def patch():
    cqltypes._CassandraType.apply_parameters = classmethod(cached_apply_parameters)


def is_patched() -> bool:
    return cqltypes._CassandraType.apply_parameters.__func__ is cached_apply_parameters
