"""How long one MongoDB call may take: what makes the two timeout settings true.

With `timeoutMS` set, PyMongo (checked with 4.20) bounds each operation, retries
included, by `timeoutMS`, and waits that whole budget for a server: it then ignores
`serverSelectionTimeoutMS` (`Topology.get_server_selection_timeout` returns the
remaining `timeoutMS`), although the client-side operations timeout spec says server
selection MUST use min(serverSelectionTimeoutMS, remaining timeoutMS). So before each
call the repository asks `call_timeout`, which reads the client's view of the servers
(public `topology_description`, no I/O): while a server is known to be up, the call
gets `timeoutMS`; while none is (MongoDB down), it gets
min(serverSelectionTimeoutMS, timeoutMS); and while the last connection was refused
its credentials, that refusal is raised again at once instead of waiting.
"""

import copy
from typing import Any

from pymongo.errors import OperationFailure

# MongoDB error codes that mean "this user may not do that" (src/mongo/base/error_codes.yml).
AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
REFUSALS = frozenset({AUTHENTICATION_FAILED, UNAUTHORIZED})


def call_timeout(client: Any, limit_s: float | None = None) -> float:
    """Return how long (seconds) the next MongoDB call may take, for `pymongo.timeout`.

    Args:
        client: A `MongoClient`, `AsyncMongoClient` or Motor client; only its `options`
            and `topology_description` are read.
        limit_s: A tighter bound of the caller (the readiness probe's budget).

    Raises:
        pymongo.errors.OperationFailure: no server is usable because the last
            connection attempt was refused its credentials (code 18) or privileges (13).
    """
    options = client.options
    timeout: float = options.timeout
    description = client.topology_description
    if not description.has_writable_server():
        for server in description.server_descriptions().values():
            refusal = server.error
            if isinstance(refusal, OperationFailure) and refusal.code in REFUSALS:
                # A copy: the stored exception is shared by every thread and task.
                raise copy.copy(refusal)
        timeout = min(timeout, options.server_selection_timeout)
    return timeout if limit_s is None else min(timeout, limit_s)
