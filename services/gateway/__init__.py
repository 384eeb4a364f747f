"""The gRPC gateway: KillrVideo's gRPC API on one port, answered by the domain services."""
