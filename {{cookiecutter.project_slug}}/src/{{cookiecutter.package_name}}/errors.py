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


class MalformedHeaderError(ServiceError):
    """A request header cannot be parsed."""


class UnsupportedMediaTypeError(ServiceError):
    """The request body is not JSON."""


class ContentTooLargeError(ServiceError):
    """The request body is larger than `max_body_bytes`."""
