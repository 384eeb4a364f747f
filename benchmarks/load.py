"""Load loops shared by the benchmarks: sequential latency and concurrent throughput of a call."""

import statistics
import threading
import time
from collections.abc import Callable


def latencies(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds taken by each of `calls` back-to-back calls."""
    taken = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        taken.append(time.perf_counter() - started)
    return taken


def throughput(call: Callable[[], object], callers: int, seconds: float) -> tuple[int, int]:
    """(calls completed, calls failed) by `callers` threads calling back to back for `seconds`."""
    done = [0] * callers
    failed = [0] * callers
    stop_at = time.perf_counter() + seconds

    def caller(index):
        while time.perf_counter() < stop_at:
            try:
                call()
                done[index] += 1
            except Exception:
                failed[index] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), sum(failed)


def p50_ms(taken: list[float]) -> float:
    return 1000 * statistics.median(taken)


def p99_ms(taken: list[float]) -> float:
    return 1000 * statistics.quantiles(taken, n=100)[98]
