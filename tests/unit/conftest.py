"""The fast tier (`make test-fast`) reaches no broker and no database: a test that tries to
connect anywhere fails, so the tier stays runnable on a bare machine, in seconds."""

import socket

import pytest


@pytest.fixture(autouse=True)
def connecting_anywhere_fails(monkeypatch):
    def refuse(sock, address):
        raise AssertionError(f"a test of the fast tier tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
