"""Waiting on a condition with a deadline, instead of sleeping blindly."""

import time


def wait_until(condition, seconds: float, what: str):
    """Polls `condition` until it returns something true, and returns that; fails naming `what`
    after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds:g}s: {what}")
        time.sleep(0.05)  # the polling interval
    return value
