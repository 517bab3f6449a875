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
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--variants",
            ",".join(variants),
            "--out",
            str(tmp_path),
        ],
        cwd=TEMPLATE_ROOT,
        # Its own work folder, so it never collides with a `make bench` running alongside.
        env={**os.environ, "BENCH_WORK_DIR": str(tmp_path / "work")},
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
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
