"""A pytest plugin that applies eventlet's monkey patch before anything else is imported.

Nameko runs on eventlet, and nameko 3's pytest plugin no longer patches. Patching from a conftest
is too late (modules imported before it keep unpatched sockets and threads) and patching at import
time breaks pytest's output capture, so this is loaded with `-p` (see pyproject.toml) and patches
in the earliest hook there is, as `nameko test` does.
"""

import warnings

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests():
    with warnings.catch_warnings():
        # Eventlet warns that it is deprecated; nameko 3 runs on it, a fixed decision.
        warnings.simplefilter("ignore")
        import eventlet

    eventlet.monkey_patch()
