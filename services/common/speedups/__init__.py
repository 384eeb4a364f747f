"""Every place where KillrVideo runs other than a library's stock code, for speed: one module per
patch, applied only by `install()`, which each process calls as it starts (the service container,
services.common.container; the tests' conftest). Importing any module changes nothing.

What each patch changes, the stock code it replaces and what it gains: docs/internals.md.

- KILLRVIDEO_STOCK_TRANSPORT=1 makes install() a no-op: the process runs on stock nameko,
  nameko-grpc, kombu, py-amqp and cassandra-driver code.
- KILLRVIDEO_SPEEDUPS_OFF=name,name leaves those patches out (benchmarks/bench_speedups.py).

A patch is either a replacement of a library attribute, made by its module's `patch()` and undone
by nothing (a process keeps it until it ends), or a subclass of ours that takes its fast path only
while `enabled(name)`.
"""

import importlib
import os

STOCK_SWITCH = "KILLRVIDEO_STOCK_TRANSPORT"
OFF_SWITCH = "KILLRVIDEO_SPEEDUPS_OFF"

# Every patch, by its module's name in this package.
NAMES = ("reconnect_waits", "grpc_connection", "direct_requests")

_enabled: set[str] = set()


def stock_requested() -> bool:
    return os.environ.get(STOCK_SWITCH, "").strip() not in ("", "0")


def switched_off() -> set[str]:
    names = {name.strip() for name in os.environ.get(OFF_SWITCH, "").split(",") if name.strip()}
    unknown = names - set(NAMES)
    if unknown:
        raise ValueError(f"{OFF_SWITCH} names no patch {sorted(unknown)}; patches: {NAMES}")
    return names


def install() -> None:
    """Applies every patch not switched off; a second call changes nothing."""
    if stock_requested():
        return
    for name in NAMES:
        if name not in _enabled and name not in switched_off():
            patch = module(name)
            if hasattr(patch, "patch"):
                patch.patch()
            _enabled.add(name)


def enabled(name: str) -> bool:
    """Whether this process runs patch `name` (install() applied it)."""
    if name not in NAMES:
        raise ValueError(f"no patch named {name!r}")
    return name in _enabled


def module(name: str):
    return importlib.import_module(f"{__name__}.{name}")
