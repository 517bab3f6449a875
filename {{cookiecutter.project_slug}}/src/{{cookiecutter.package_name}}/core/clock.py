"""The service's clock: timestamps as MongoDB stores them."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current UTC time truncated to milliseconds (BSON's date precision).

    Truncating first makes the time returned on create equal the one read back later.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
