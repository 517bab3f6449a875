"""Domain errors raised by the repository and request parsing; mapped to HTTP in `problems`."""


class ServiceError(Exception):
    """Base class of the errors this service raises on purpose."""


def human(resource: str) -> str:
    """Return a resource's name as prose: `apple_tree` -> "apple tree"."""
    return resource.replace("_", " ")


def _capitalised(text: str) -> str:
    """Return `text` with its first letter upper-case and the rest unchanged."""
    return text[:1].upper() + text[1:]


def _with_article(noun: str) -> str:
    """Return `noun` after "a" or "an", chosen by its first letter ("an apple", "a pear")."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


class NotFoundError(ServiceError):
    """No document of the resource has the given id (404)."""

    def __init__(self, resource: str, resource_id: str) -> None:
        """Say which resource (snake_case singular name, e.g. "order_line") lacks `resource_id`."""
        super().__init__(f"{_capitalised(human(resource))} {resource_id} does not exist.")
        self.resource = resource
        self.resource_id = resource_id


class DuplicateError(ServiceError):
    """Another document of the resource already has this value of a unique field (409)."""

    def __init__(self, resource: str, value: object, field: str = "name") -> None:
        """Say which resource (snake_case singular name) already has `field` = `value`.

        A field called `name` reads "A book named 'x' already exists."; any other
        "A book with sku 'x' already exists."
        """
        how = "named" if field == "name" else f"with {field}"
        super().__init__(
            f"{_capitalised(_with_article(human(resource)))} {how} {value!r} already exists."
        )
        self.resource = resource
        self.field = field
        self.value = value


class PreconditionFailedError(ServiceError):
    """The document's current version matches none of the client's `If-Match` ETags (412)."""

    def __init__(self, resource: str, resource_id: str) -> None:
        """Say which document (resource's snake_case singular name and id) has changed."""
        super().__init__(
            f"{_capitalised(human(resource))} {resource_id} has changed: its ETag matches no "
            "If-Match value. Fetch it again and retry."
        )
        self.resource = resource
        self.resource_id = resource_id


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


class UnreadableDocumentError(ServiceError):
    """Stored documents fail the resource's read model (a field missing, null or mistyped): 500.

    The database holds data the service cannot serve, written by hand, a script or an
    older release: an operator has to repair or migrate it. Never the client's fault.
    """

    def __init__(self, resource: str, failures: dict[str, list[str]]) -> None:
        """Say which documents cannot be read.

        Args:
            resource: Snake_case singular name of the resource, e.g. "order_line".
            failures: The failing fields (dotted paths) by document id, in page order.
        """
        ids = ", ".join(failures)
        noun = human(resource) if len(failures) == 1 else f"{human(resource)} documents"
        super().__init__(
            f"Stored {noun} {ids} cannot be read: "
            f"{'it fails' if len(failures) == 1 else 'they fail'} the read model; "
            "an operator must repair or migrate the data."
        )
        self.resource = resource
        self.failures = failures

    @property
    def ids(self) -> list[str]:
        """Return the ids of the unreadable documents."""
        return list(self.failures)


class InvalidCursorError(ServiceError):
    """A list cursor is malformed, was altered, or contradicts the other parameters (400)."""
