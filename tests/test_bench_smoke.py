"""The benchmark harness in smoke mode: every step runs end to end, so it cannot rot.

A few requests per step and no gate on wall-clock figures or instruction ratios; it
does fail on any non-2xx answer and when a generated service makes more database
round trips than the bare app for the same route.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import TEMPLATE_ROOT, VARIANTS

pytestmark = pytest.mark.slow

TOOLS = ("valgrind", "callgrind_control", "wrk", "taskset")


def smoke_variants() -> list[str]:
    """Return one variant per framework whose overlay exists (each app costs time)."""
    sys.path.insert(0, str(TEMPLATE_ROOT))
    from bench.harness import available_variants

    chosen: dict[str, str] = {}
    for name in available_variants():
        chosen.setdefault(VARIANTS[name]["framework"], name)
    return list(chosen.values())


def run_smoke(module: str, out: Path, *args: str) -> None:
    """Run `python -m <module> --smoke <args> --out <out>` and insist on exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke", *args, "--out", str(out)],
        cwd=TEMPLATE_ROOT,
        # Its own work folder, so it never collides with a `make bench` running alongside.
        env={**os.environ, "BENCH_WORK_DIR": str(out / "work")},
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason="needs valgrind and wrk (apt-get install valgrind wrk; .ci/run does it)",
)
@pytest.mark.timeout(600)
def test_bench_smoke_measures_every_step(tmp_path):
    """`python -m bench --smoke` exits 0 and reports every step for G, B (and B-durable's load).

    Memory per worker and the time to the first ready answer too, for all three apps.
    """
    variants = smoke_variants()
    run_smoke("bench", tmp_path, "--variants", ",".join(variants))
    results = json.loads((tmp_path / "results.json").read_text())
    endpoints = results["meta"]["targets"]
    for variant in variants:
        for role in ("G", "B"):
            app = f"{variant}/{role}"
            assert set(results["instructions"][app]) == set(endpoints)
            assert all(ir > 0 for ir in results["instructions"][app].values())
            assert results["dbops"][app]["GET /api/v1/items/{id}"]["query"] == pytest.approx(1)
        rows = [row for row in results["load"] if row["variant"] == variant]
        assert rows
        assert all(row["B-durable_rps"] > 0 for row in rows)
        for role in ("G", "B", "B-durable"):
            footprint = results["footprint"][f"{variant}/{role}"]
            assert footprint["rss_mb"] > 0
            assert footprint["ready_s"] > 0
    assert (tmp_path / "results.md").read_text().startswith("# flaskfast benchmark")
    assert (tmp_path / "results.png").stat().st_size > 0


@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason="needs valgrind (apt-get install valgrind; .ci/run does it)",
)
@pytest.mark.timeout(600)
def test_listing_bench_smoke_measures_every_page_kind(tmp_path):
    """`python -m bench.listing --smoke` measures the three page kinds end to end."""
    run_smoke("bench.listing", tmp_path, "--variants", "fastapi-pymongo", "--requests", "2")
    rows = json.loads((tmp_path / "listing.json").read_text())["rows"]
    by_case = {row["case"]: row for row in rows}
    assert set(by_case) == {"page 1", "last page by number", "last page by cursor"}
    assert all(row["instructions"] > 0 and row["milliseconds"] > 0 for row in rows)
    # A cursor page counts nothing; a numbered page counts every match for `total`.
    assert by_case["last page by cursor"]["count_docs_examined"] is None
    assert by_case["page 1"]["count_docs_examined"] == rows[0]["size"]
    assert (tmp_path / "listing.md").read_text().startswith("# List route cost")
