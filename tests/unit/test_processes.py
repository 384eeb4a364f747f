"""The scheduler figures of scripts/processes.py, which `make bench` prints per process."""

import os
import time

import eventlet

from scripts.processes import scheduler_seconds

# The tests run monkey patched: a patched thread is a green thread of this same OS thread, and
# what is tested is the sum over the OS threads.
threading = eventlet.patcher.original("threading")


def busy(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_the_cpu_time_of_each_thread_of_a_process_is_counted():
    spun, measured = threading.Event(), threading.Event()

    def work():
        busy(0.05)
        spun.set()
        measured.wait(10)  # alive until read: an ended thread takes its figures with it

    worker = threading.Thread(target=work)
    running_before, waiting_before = scheduler_seconds(os.getpid())
    worker.start()
    busy(0.05)
    assert spun.wait(10)
    running, waiting = scheduler_seconds(os.getpid())
    measured.set()
    worker.join()
    assert running - running_before >= 0.1  # this thread's and the worker's
    assert waiting >= waiting_before
