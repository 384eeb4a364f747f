"""What each patch was written against, checked by tests/unit/test_speedups_guards.py: the
installed versions of the libraries it patches (VERSIONS), and a fingerprint of the source of each
upstream function it copies or overrides (UPSTREAM).

`python -m services.common.speedups.guards` prints what differs, to review each patch named and
then record the new values in its module."""

import ast
import hashlib
import importlib
import importlib.metadata
import inspect
from pathlib import Path

from services.common import speedups


def upstream_source(path: str) -> str:
    """The source of the function at dotted `path` (module, then qualified name), read from its
    module's file, so a patch that replaced it in this process does not hide it."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        source = module_source(module)
        node = find_definition(ast.parse(source), parts[split:])
        if node is None:
            raise LookupError(f"{path}: no such definition in {module.__name__}")
        return ast.get_source_segment(source, node)
    raise LookupError(f"{path}: no module")


def module_source(module) -> str:
    try:
        return inspect.getsource(module)
    except OSError:
        # A compiled module (cassandra-driver's Cython builds) ships the source it was built from.
        return (
            Path(module.__file__).with_name(module.__name__.rpartition(".")[2] + ".py").read_text()
        )


def find_definition(tree, names: list[str]):
    scope = tree
    for name in names:
        found = None
        for node in scope.body:
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == name
            ):
                found = node  # the last definition wins, as at run time
        if found is None:
            return None
        scope = found
    return scope


def fingerprint(path: str) -> str:
    """The first 16 hex digits of the sha256 of its source: enough to notice any change."""
    return hashlib.sha256(upstream_source(path).encode()).hexdigest()[:16]


def differences(name: str) -> list[str]:
    """What no longer matches what patch `name` was written against, one line each."""
    patch = speedups.module(name)
    found = []
    for distribution, expected in patch.VERSIONS.items():
        installed = importlib.metadata.version(distribution)
        if installed != expected:
            found.append(f"{distribution} is {installed}, the patch was written against {expected}")
    for path, expected in patch.UPSTREAM.items():
        now = fingerprint(path)
        if now != expected:
            found.append(f"{path} changed upstream: fingerprint {now}, recorded {expected}")
    return found


if __name__ == "__main__":
    for name in speedups.NAMES:
        for line in differences(name):
            print(f"{name}: review services/common/speedups/{name}.py: {line}")
