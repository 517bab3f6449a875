"""What one page of `GET /api/v1/items` costs as the collection grows (issue 11).

For each variant and collection size (1k, 10k, 100k items by default) it measures three
pages of the default list (newest first, 20 per page): page 1, the last page by number
(`page=`, the server skips every earlier match and counts them all for `total`) and the
last page by cursor (`cursor=`, from the `next` of the page before it):
- instructions per request in the service (one gunicorn worker under callgrind, as
  `bench.harness` measures them);
- documents the database examined for the page's query and for its count
  (`explain`, executionStats `totalDocsExamined`);
- wall-clock milliseconds per request (median; the database's work shows here).

Run: `python -m bench.listing` (or `make bench-list`); `--smoke` runs tiny sizes. The
table goes to `bench/reference/listing.md` (`--out` elsewhere).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import json
import math
import signal
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import harness
from bench.harness import BENCH_DIR, DATABASE, WORK_DIR, App
from tests.support import VARIANTS, http, mongo_server

PATH = "/api/v1/items"
PER_PAGE = 20
SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (60,)
BATCH = 5_000
# A page costs SecantusDB (a Python server that walks the whole index for each find, see
# bench/README.md) seconds at 100k items: fewer requests there. Callgrind counts repeat
# within ~0.2%, so three requests are enough for the instructions.
LARGE = 50_000
LARGE_REQUESTS = 2
IDLE_SECONDS = 3.0
CASES = ("page 1", "last page by number", "last page by cursor")
# Issue 11: a cursor page at 100k items within 1.2x of page 1 at 1k items.
TARGET = 1.2


@dataclasses.dataclass
class Row:
    """One measured page: variant, collection size, case and its costs."""

    variant: str
    size: int
    case: str
    instructions: float
    docs_examined: int
    count_docs_examined: int | None
    milliseconds: float


def fill(mongo_uri: str, size: int) -> None:
    """Make the items collection hold `size` items (indexes as the service's), in batches."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        items = client[DATABASE]["items"]
        have = items.estimated_document_count()
        if have > size:
            items.drop()
            have = 0
        for keys, options in harness.INDEXES:
            items.create_index(keys, **options)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for first in range(have, size, BATCH):
            batch = []
            for i in range(first, min(first + BATCH, size)):
                created = start + timedelta(seconds=i)
                batch.append(
                    {
                        "name": f"list-{i:07d}",
                        "description": f"Item {i} of the listing benchmark.",
                        "tags": ["bench", f"t{i % 5}"],
                        "created_at": created,
                        "updated_at": created,
                        "version": 1,
                    }
                )
            items.insert_many(batch, ordered=False)
    finally:
        client.close()


def urls(base_url: str, size: int) -> dict[str, str]:
    """Return the URL of each case, the cursor taken from the page before the last."""
    last = max(1, math.ceil(size / PER_PAGE))
    page = f"{base_url}{PATH}?per_page={PER_PAGE}"
    status, _, body = http("GET", f"{page}&page={max(1, last - 1)}", timeout=120)
    assert status == 200, body[:300]
    cursor = json.loads(body)["next"]
    assert cursor, "the page before the last has a next cursor"
    return {
        "page 1": page,
        "last page by number": f"{page}&page={last}",
        "last page by cursor": f"{base_url}{PATH}?"
        + urlencode({"cursor": cursor, "per_page": PER_PAGE}),
    }


def docs_examined(mongo_uri: str, size: int) -> dict[str, tuple[int, int | None]]:
    """Return, per case, the documents examined by its find and by its count (None: none).

    The queries are the service's (`core/crud/documents.py`): sort newest first with the
    `_id` tiebreak, the `created_at_id` index named; the cursor's filter starts after the
    last item of the page before.
    """
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        database = client[DATABASE]
        items = database["items"]
        sort = [("created_at", -1), ("_id", -1)]
        last = max(1, math.ceil(size / PER_PAGE))
        before_last = items.find({}, sort=sort, skip=(last - 1) * PER_PAGE - 1, limit=1).to_list()
        after: dict[str, Any] = {}
        if before_last:
            value, last_id = before_last[0]["created_at"], before_last[0]["_id"]
            after = {
                "created_at": {"$lte": value},
                "$or": [{"created_at": {"$lt": value}}, {"_id": {"$lt": last_id}}],
            }

        def find(filter_: dict[str, Any], skip: int) -> int:
            cursor = items.find(filter_, sort=sort, skip=skip, limit=PER_PAGE + 1)
            stats = cursor.hint("created_at_id").explain()["executionStats"]
            return int(stats["totalDocsExamined"])

        count = database.command(
            "explain",
            {
                "aggregate": "items",
                "pipeline": [{"$match": {}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
                "cursor": {},
            },
            verbosity="executionStats",
        )
        counted = _docs_examined_by_aggregate(count)
        return {
            "page 1": (find({}, 0), counted),
            "last page by number": (find({}, (last - 1) * PER_PAGE), counted),
            "last page by cursor": (find(after, 0), None),
        }
    finally:
        client.close()


def _docs_examined_by_aggregate(explained: dict[str, Any]) -> int:
    """Return totalDocsExamined of an aggregate's explain (its `$cursor` stage, or top level)."""
    for stage in explained.get("stages", []):
        if "$cursor" in stage:
            return int(stage["$cursor"]["executionStats"]["totalDocsExamined"])
    return int(explained.get("executionStats", {}).get("totalDocsExamined", -1))


def instructions(app: App, cases: dict[str, str], requests: int) -> dict[str, float]:
    """Return Ir per request of each case's URL (one worker under callgrind; see harness).

    A worker also spends instructions while it waits for the database: uvicorn's main
    loop wakes every 0.1 s. At 100k items SecantusDB takes seconds per page, so that
    idle work would swamp the request's own. It is measured (a few idle seconds) and
    subtracted in proportion to each batch's wall-clock time.
    """
    out_dir = WORK_DIR / "callgrind" / f"listing-{app.variant}"
    out_dir.mkdir(parents=True, exist_ok=True)
    wrap, one_worker = harness.under_callgrind(app, out_dir)

    def counted(send: Callable[[], None]) -> tuple[int, float]:
        """Return the instructions and seconds `send()` took in the worker."""
        before = set(out_dir.iterdir())
        harness._callgrind_control("-i", "on", worker)
        harness._callgrind_control("-z", worker)
        started = time.perf_counter()
        send()
        seconds = time.perf_counter() - started
        harness._callgrind_control("-d", worker)
        harness._callgrind_control("-i", "off", worker)
        dumps = sorted(set(out_dir.iterdir()) - before)
        return harness._total_ir(dumps[-1]), seconds

    results: dict[str, float] = {}
    with harness.serve(one_worker, wrap=wrap, ready_timeout=300) as running:
        worker = str(running.proc.pid)
        for path in cases.values():
            _get(running.url + path)
        idle, idle_seconds = counted(lambda: time.sleep(IDLE_SECONDS))
        per_second = idle / idle_seconds
        for case, path in cases.items():
            total, seconds = counted(functools.partial(_get, running.url + path, requests))
            results[case] = max(0.0, total - per_second * seconds) / requests
    return results


def milliseconds(url: str, path: str, requests: int) -> float:
    """Return the median wall-clock milliseconds of GET `path` (no callgrind)."""
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        _get(url + path)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _get(url: str, times: int = 1) -> None:
    """GET `url` `times` times, one after another, and insist on 200 each time."""
    for _ in range(times):
        status, _, body = http("GET", url, timeout=300)
        if status != 200:
            raise AssertionError(f"GET {url} -> {status}: {body[:300]!r}")


def measure(
    variants: list[str], sizes: tuple[int, ...], requests: int, *, callgrind: bool = True
) -> list[Row]:
    """Return a row per variant, size and case (one database, grown size by size)."""
    projects = harness.prepare(variants)
    rows: list[Row] = []
    with mongo_server() as server:
        for size in sizes:
            print(f"bench.listing: {size} items", flush=True)
            fill(server.uri, size)
            examined = docs_examined(server.uri, size)
            count = requests if size < LARGE else min(requests, LARGE_REQUESTS)
            for variant in variants:
                harness.migrate(harness.package_of(variant), server.uri)  # else 503 on ready
                app = harness.apps_for(
                    variant, projects[variant], server.uri, workers=1, timeout=300
                )[0]
                # A deep page at 100k items takes SecantusDB longer than the default 5 s.
                prefix = harness.package_of(variant).upper() + "_"
                app = dataclasses.replace(
                    app, env={**app.env, f"{prefix}MONGO_TIMEOUT_MS": "300000"}
                )
                with harness.serve(app, ready_timeout=120) as running:
                    cases = {
                        case: url.removeprefix(running.url)
                        for case, url in urls(running.url, size).items()
                    }
                    wall = {
                        case: milliseconds(running.url, path, count) for case, path in cases.items()
                    }
                counted = (
                    instructions(app, cases, count) if callgrind else dict.fromkeys(cases, 0.0)
                )
                for case in CASES:
                    row = Row(variant, size, case, counted[case], *examined[case], wall[case])
                    rows.append(row)
                    print(f"  {row}", flush=True)
    return rows


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    """Return the results as a markdown table, with the issue's target checked per variant."""
    lines = [
        "# List route cost by collection size",
        "",
        f"Measured {meta['date']} on {meta['machine']}; database SecantusDB {meta['secantus']}; "
        f"{PER_PAGE} items per page, newest first.",
        "",
        "| variant | items | page | kIr/request | docs examined: find | count | ms/request |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        count = "-" if row.count_docs_examined is None else f"{row.count_docs_examined:,}"
        lines.append(
            f"| {row.variant} | {row.size:,} | {row.case} | {row.instructions / 1000:,.0f} | "
            f"{row.docs_examined:,} | {count} | {row.milliseconds:,.1f} |"
        )
    lines += [
        "",
        f"Target: a cursor page at the largest size within {TARGET}x of page 1 at the smallest.",
        "",
    ]
    for variant in dict.fromkeys(row.variant for row in rows):
        mine = [row for row in rows if row.variant == variant]
        small, large = min(row.size for row in mine), max(row.size for row in mine)
        first = next(r for r in mine if r.size == small and r.case == "page 1")
        deep = next(r for r in mine if r.size == large and r.case == "last page by cursor")
        if first.instructions:
            ratio = deep.instructions / first.instructions
            lines.append(
                f"- {variant}: instructions {ratio:.2f}x "
                f"({'met' if ratio <= TARGET else 'missed'}); "
                f"wall clock {deep.milliseconds / first.milliseconds:.2f}x."
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure and write the table; return 0 (1 when a request failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.listing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--smoke", action="store_true", help=f"sizes {SMOKE_SIZES}, a few requests")
    parser.add_argument("--variants", default="fastapi-pymongo,flask", help="comma-separated")
    parser.add_argument("--sizes", help=f"comma-separated item counts (default {SIZES})")
    parser.add_argument("--requests", type=int, help="requests per case (default 20; smoke 3)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "reference", help="results folder")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    variants = args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variants: {sorted(unknown)}")
    sizes = (
        tuple(int(s) for s in args.sizes.split(","))
        if args.sizes
        else (SMOKE_SIZES if args.smoke else SIZES)
    )
    requests = args.requests or (3 if args.smoke else 20)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    rows = measure(variants, sizes, requests)
    described = harness.machine()
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{described['cpu'] or '?'} ({described['cpus']} CPUs)",
        "secantus": importlib.metadata.version("SecantusDB"),
        "versions": described["versions"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "listing.json").write_text(
        json.dumps({"meta": meta, "rows": [dataclasses.asdict(r) for r in rows]}, indent=2) + "\n"
    )
    table = markdown(rows, meta)
    (args.out / "listing.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
