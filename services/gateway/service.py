"""The gRPC gateway: `nameko run services.gateway.service --config config.yaml`.

One nameko service serves, on one port (GRPC_BIND_HOST:GRPC_BIND_PORT, 127.0.0.1:50101 by
default), the eight KillrVideo gRPC services, the standard health service (grpc.health.v1) and
server reflection (so grpcurl works). Each KillrVideo RPC is translated to plain data, answered by
a domain service over nameko RPC (routes.py) and translated back (convert.py); every failure
becomes a gRPC status (errors.py). No business rule lives here.

All entrypoints of one service share one gRPC server (nameko-grpc's GrpcServer is a
SharedExtension), and the RPC names of all these services are distinct, as nameko-grpc requires
(an entrypoint is found by its method's name).
"""

from grpc import StatusCode
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from nameko_grpc.errors import GrpcError
from nameko_grpc.inspection import Inspector

from services.common.metrics import Metrics
from services.common.tracing import Tracing
from services.gateway import routes
from services.gateway.downstream import DomainHealth, DomainServices
from services.gateway.server import grpc

DOMAIN_SERVICES_OF = {
    routes.grpc_service_name(stub): routes.domain_services_behind(stub) for stub in routes.ROUTES
}
HealthCheckResponse = health_pb2.HealthCheckResponse
SERVING, NOT_SERVING = HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING
# What a health check of each service name needs; "" names the whole server.
HEALTH_NEEDS = {"": frozenset().union(*DOMAIN_SERVICES_OF.values()), **DOMAIN_SERVICES_OF}

REFLECTION = reflection.ReflectionServicer(
    [
        *DOMAIN_SERVICES_OF,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
)


class GatewayService:
    name = "gateway"

    domain = DomainServices()
    domain_answers = DomainHealth()
    metrics = Metrics()
    tracing = Tracing()

    @grpc(health_pb2_grpc.HealthStub)
    def Check(self, request, context):
        """SERVING when every domain service behind the named service (all of them for "")
        answers over the broker; NOT_SERVING otherwise, and for services not built yet."""
        needs = HEALTH_NEEDS.get(request.service)
        if needs is None:
            raise GrpcError(StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        serving = bool(needs) and self.domain_answers(needs)
        return HealthCheckResponse(status=SERVING if serving else NOT_SERVING)

    @grpc(health_pb2_grpc.HealthStub)
    def Watch(self, request, context):
        raise GrpcError(StatusCode.UNIMPLEMENTED, "Health.Watch is not offered: poll Check")

    @grpc(reflection_pb2_grpc.ServerReflectionStub)
    def ServerReflectionInfo(self, requests, context):
        return REFLECTION.ServerReflectionInfo(requests, context)


def entrypoint(stub, rpc_name: str, call: routes.Call | None):
    """The gateway's method answering one KillrVideo RPC as its route says."""
    response_class = Inspector(stub).output_type_for_method(rpc_name)
    if call is None:
        not_yet = f"{Inspector(stub).path_for_method(rpc_name)} is not implemented yet"

        def answer(self, request, context):
            raise GrpcError(StatusCode.UNIMPLEMENTED, f"{not_yet} by this KillrVideo backend")
    else:

        def answer(self, request, context):
            return call.answer(self.domain, request, response_class)

    answer.__name__ = answer.__qualname__ = rpc_name
    return grpc(stub)(answer)


for stub, calls in routes.ROUTES.items():
    for rpc_name, call in calls.items():
        setattr(GatewayService, rpc_name, entrypoint(stub, rpc_name, call))
