"""Schemathesis hooks of the resilience test: one false positive of 4.32, and unique keys.

Loaded by `test_schemathesis_finds_no_5xx_and_no_schema_violation` through the `hooks`
setting of the schemathesis.toml it writes (module path relative to the template root).

The coverage phase of Schemathesis 4.32.5 cannot build a value for a header whose
`pattern` needs a character other than A-Z, a-z, 0-9 (`If-Match` needs `"` or `*`):
`_positive_string` yields nothing for it (specs/openapi/coverage/_schema.py). For an
*optional* header, `_seed_parameters` (coverage/_operation.py) then seeds the request
template with the header's first negative value (`If-Match: 0`), and the cases built on
that template are still labelled positive ("Default positive test case", and the body
cases of PUT and PATCH). `positive_data_acceptance` then reports the service's correct
400 as "ST202 Schema-valid request rejected". Reproduced without this project: one
DELETE with an optional header `{"pattern": "^\\"[a-z]*\\"$"}` that answers 400 to a
value outside the pattern gets the same failure for `X-Tag: 0`.

Such a case says of itself that it is inconsistent: its metadata marks the whole case
positive and the header part negative. Only those cases are dropped; every other case
of every phase, and every check, runs.

`Idempotency-Key` is state, not syntax: a key sent again with another body is correctly
refused with 422 (IETF httpapi draft "The Idempotency-Key HTTP Header Field"), and
generated values repeat ("0", "A"). Each positive case gets a key of its own, so a
schema-valid request is judged on its own; negative cases keep the generated value, so
malformed keys are still fuzzed. The contract suite tests reuse itself.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import schemathesis
from schemathesis.generation import GenerationMode

if TYPE_CHECKING:
    from schemathesis import Case, HookContext


@schemathesis.hook
def filter_case(context: HookContext, case: Case) -> bool:
    """Drop a case labelled positive that carries a part generated as negative."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    return all(part.mode == GenerationMode.POSITIVE for part in meta.components.values())


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    """Give a positive case that carries an `Idempotency-Key` a key no other case uses."""
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    return case
