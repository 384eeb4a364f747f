"""The domain errors that travel over nameko RPC, and turning backend failures into them.

Each error is registered with nameko's ``deserialize_to_instance``, so a caller (the gateway,
`nameko shell`, another service) catches the same class the service raised, with the same
arguments, instead of a generic ``RemoteError``. The gateway maps each class to one gRPC status.
"""

from nameko.exceptions import deserialize_to_instance


class DomainError(Exception):
    """Base of the errors a client may cause or see; anything else escaping a service is a bug."""

    def __str__(self):
        return self.message

    @property
    def message(self) -> str:
        return self.args[-1]


@deserialize_to_instance
class InvalidArgument(DomainError):
    """A missing or malformed field of a request; `field` names it."""

    def __init__(self, field: str, message: str):
        # The arguments are kept as given: nameko rebuilds the error from them on the caller's
        # side, so anything derived from them is derived there too.
        super().__init__(field, message)

    @property
    def field(self) -> str:
        return self.args[0]

    @property
    def message(self) -> str:
        return f"{self.args[0]}: {self.args[1]}"


@deserialize_to_instance
class AlreadyExists(DomainError):
    def __init__(self, message: str):
        super().__init__(message)


@deserialize_to_instance
class Unauthenticated(DomainError):
    def __init__(self, message: str):
        super().__init__(message)


@deserialize_to_instance
class NotFound(DomainError):
    def __init__(self, message: str):
        super().__init__(message)


@deserialize_to_instance
class BackendUnavailable(DomainError):
    """The database (or another backend) did not answer: the caller may retry later."""

    def __init__(self, message: str):
        super().__init__(message)


@deserialize_to_instance
class DeadlineExceeded(DomainError):
    """The caller's deadline passed before the service could start the request: not run."""

    def __init__(self, message: str):
        super().__init__(message)
