"""A service with one consumer of each kind a domain service has (services.common.rpc's RPC
consumer and services.common.handlers' event consumer), and no database: for tests of a running
process's consumers alone, with `nameko run tests.consumers_only`."""

from marshmallow import Schema, fields

from services.common.events import Event
from services.common.handlers import on_event
from services.common.rpc import rpc

PINGED = Event("pinged", type("PingPayload", (Schema,), {"id": fields.UUID()}))


class ConsumersOnly:
    name = "consumers_only"

    @rpc
    def ping(self):
        return "pong"

    @on_event("elsewhere", PINGED)
    def pinged(self, payload):
        pass
