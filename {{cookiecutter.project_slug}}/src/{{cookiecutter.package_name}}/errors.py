"""Domain errors raised by the repository and request parsing; mapped to HTTP in `problems`."""


class ServiceError(Exception):
    """Base class of the errors this service raises on purpose."""


class ItemNotFoundError(ServiceError):
    """No item has the given id."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"Item {item_id} does not exist.")


class DuplicateItemError(ServiceError):
    """Another item already has this name (the unique index on `name` refused it)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"An item named {name!r} already exists.")


class PreconditionFailedError(ServiceError):
    """The item's current version matches none of the client's `If-Match` ETags."""

    def __init__(self, item_id: str) -> None:
        super().__init__(
            f"Item {item_id} has changed: its ETag matches no If-Match value. "
            "Fetch it again and retry."
        )


class IdempotencyKeyReusedError(ServiceError):
    """The `Idempotency-Key` was first used with another request body (422)."""

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new request."
        )


class IdempotencyKeyInFlightError(ServiceError):
    """A request with this `Idempotency-Key` is still being processed (409, `Retry-After`)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; "
            f"retry in {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class MalformedHeaderError(ServiceError):
    """A request header cannot be parsed."""


class UnsupportedMediaTypeError(ServiceError):
    """The request body is not JSON."""


class ContentTooLargeError(ServiceError):
    """The request body is larger than `max_body_bytes`."""
