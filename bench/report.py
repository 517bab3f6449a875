"""Turn the benchmark's results (JSON) into a markdown table and a PNG chart.

`python bench/report.py RESULTS.json CHART.png` draws the chart; it needs matplotlib,
which the harness installs into the benchmark venv (not the template's tooling venv).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Extra DB operations per request tolerated before G counts as doing more round trips
# (driver heartbeats land in the `command` counter now and then).
DBOPS_TOLERANCE = 0.05


def _variants(data: dict[str, Any]) -> list[str]:
    return list(data["meta"]["plan"]["variants"])


def _endpoints(data: dict[str, Any]) -> list[str]:
    return list(data["meta"]["targets"])


def markdown(data: dict[str, Any]) -> str:
    """Return the results as markdown: machine, then one table per metric."""
    meta = data["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    plan = meta["plan"]
    lines = [
        "# flaskfast benchmark"
        + (" (smoke run: too few requests to mean anything)" if plan["smoke"] else ""),
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {meta['cpu']}, {meta['cpus']} CPUs, Linux {meta['kernel']}",
        f"- Versions: {versions}",
        f"- Tools: {meta['valgrind']}, {meta['wrk']}",
        f"- Database: {meta['database']}",
        "- G = generated service (validation, problem details, JSON logs, Prometheus metrics, "
        "request ids, ETags); B = bare tutorial app (`bench/bare_*.py`) on the same database, "
        "same gunicorn settings and library versions.",
        "",
        "## Instructions per request (callgrind, one worker, "
        f"{plan['callgrind_requests']} sequential requests after "
        f"{plan['callgrind_warmup']} warm-up)",
        "",
        "| Endpoint | Variant | G kIr/req | B kIr/req | G/B | Target | |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    instructions = data["instructions"]
    for endpoint in _endpoints(data):
        target = meta["targets"][endpoint]
        for variant in _variants(data):
            g = instructions.get(f"{variant}/G", {}).get(endpoint)
            b = instructions.get(f"{variant}/B", {}).get(endpoint)
            if g is None or b is None:
                continue
            ratio = g / b
            verdict = "ok" if ratio <= target else "MISS"
            lines.append(
                f"| `{endpoint}` | {variant} | {g / 1000:,.0f} | {b / 1000:,.0f} | "
                f"{ratio:.2f} | {target:.2f} | {verdict} |"
            )
    lines += _auth_lines(data)
    lines += [
        "",
        "## Database operations per request (serverStatus opcounters, "
        f"{plan['dbops_requests']} requests)",
        "",
        "| Endpoint | Variant | G ops/req | B ops/req | G by kind | |",
        "|---|---|---:|---:|---|---|",
    ]
    dbops = data["dbops"]
    for endpoint in _endpoints(data):
        for variant in _variants(data):
            g = dbops.get(f"{variant}/G", {}).get(endpoint)
            b = dbops.get(f"{variant}/B", {}).get(endpoint)
            if g is None or b is None:
                continue
            kinds = ", ".join(f"{k} {v:.2f}" for k, v in g.items() if k != "total" and v >= 0.01)
            verdict = "ok" if g["total"] <= b["total"] + DBOPS_TOLERANCE else "MORE"
            lines.append(
                f"| `{endpoint}` | {variant} | {g['total']:.2f} | {b['total']:.2f} | "
                f"{kinds} | {verdict} |"
            )
    if data["load"]:
        lines += [
            "",
            f"## Load (wrk; G and B served at once, 2 gunicorn workers each, both on CPU 0; "
            f"wrk and the database on CPU 1; {plan['wrk_pairs']} interleaved pairs of "
            f"{plan['wrk_seconds']:g} s trials)",
            "",
            "Wall-clock figures on this shared 2-CPU VM swing by about 30% between runs; the "
            "database (a Python server) is usually the bottleneck on DB routes. Read the G/B "
            "ratio (median of per-pair ratios, [range]), not the absolute req/s.",
            "",
            "| Endpoint | Variant | Conns | G req/s | B req/s | G/B req/s | G p50 / p99 ms | "
            "B p50 / p99 ms | CPU ms/req G / B |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in data["load"]:
            low, high = row["rps_ratio_range"]
            lines.append(
                f"| `{row['endpoint']}` | {row['variant']} | {row['connections']} | "
                f"{row['G_rps']:,.0f} | {row['B_rps']:,.0f} | {row['rps_ratio_median']:.2f} "
                f"[{low:.2f}-{high:.2f}] | {row['G_p50_ms']:.1f} / {row['G_p99_ms']:.1f} | "
                f"{row['B_p50_ms']:.1f} / {row['B_p99_ms']:.1f} | "
                f"{row['G_cpu_ms_per_request']:.2f} / {row['B_cpu_ms_per_request']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _auth_cost(data: dict[str, Any]) -> list[tuple[str, str, str, float, float]]:
    """Return (endpoint, variant, mode, G Ir, G+mode Ir) for every `--auth` measurement."""
    rows = []
    instructions = data["instructions"]
    for app, endpoints in instructions.items():
        variant, role = app.split("/")
        if not role.startswith("G+"):
            continue
        for endpoint, authed in endpoints.items():
            plain = instructions.get(f"{variant}/G", {}).get(endpoint)
            if plain:
                rows.append((endpoint, variant, role.removeprefix("G+"), plain, authed))
    return rows


def _auth_lines(data: dict[str, Any]) -> list[str]:
    """Return the markdown table of what an access mode adds per request (if measured)."""
    rows = _auth_cost(data)
    if not rows:
        return []
    targets = data["meta"].get("auth_targets", {})
    lines = [
        "",
        "## What an access mode adds (G baked with `auth=<mode>`, a valid credential sent)",
        "",
        "| Endpoint | Variant | Mode | G kIr/req | G+mode kIr/req | Added | Target | |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for endpoint, variant, mode, plain, authed in rows:
        added = authed / plain - 1
        target = targets.get(endpoint)
        verdict = "" if target is None else ("ok" if added <= target else "MISS")
        shown = "" if target is None else f"{target:.0%}"
        lines.append(
            f"| `{endpoint}` | {variant} | {mode} | {plain / 1000:,.0f} | {authed / 1000:,.0f} | "
            f"{added:+.1%} | {shown} | {verdict} |"
        )
    return lines


def problems(data: dict[str, Any], *, gate_instructions: bool) -> list[str]:
    """Return the failed gates: extra DB operations always, instruction targets when asked."""
    found = []
    for app, endpoints in data["dbops"].items():
        variant, role = app.split("/")
        if role != "G":
            continue
        for endpoint, ops in endpoints.items():
            bare = data["dbops"].get(f"{variant}/B", {}).get(endpoint)
            if bare is not None and ops["total"] > bare["total"] + DBOPS_TOLERANCE:
                found.append(
                    f"{app} {endpoint}: {ops['total']:.2f} DB ops/request, "
                    f"bare app {bare['total']:.2f}"
                )
    for row in data["load"]:
        for role in ("G", "B"):
            failed = sum(trial.get("failed", 0) for trial in row["trials"][role])
            if failed:
                found.append(
                    f"{row['variant']}/{role} {row['endpoint']} c={row['connections']}: "
                    f"{failed} requests failed (non-2xx, socket error or timeout)"
                )
    if gate_instructions:
        for app, endpoints in data["instructions"].items():
            variant, role = app.split("/")
            if role != "G":
                continue
            for endpoint, ir in endpoints.items():
                bare_ir = data["instructions"].get(f"{variant}/B", {}).get(endpoint)
                target = data["meta"]["targets"][endpoint]
                if bare_ir and ir / bare_ir > target:
                    found.append(f"{app} {endpoint}: G/B {ir / bare_ir:.2f} > {target}")
        targets = data["meta"].get("auth_targets", {})
        for endpoint, variant, mode, plain, authed in _auth_cost(data):
            target = targets.get(endpoint)
            added = authed / plain - 1
            if target is not None and added > target:
                found.append(f"{variant}/G+{mode} {endpoint}: auth adds {added:.1%} > {target:.0%}")
    return found


def chart(data: dict[str, Any], png: Path, python: str | None = None) -> None:
    """Draw the chart into `png`, in `python` (an interpreter with matplotlib) if given."""
    if python is not None:
        with png.with_suffix(".tmp.json").open("w") as handle:
            json.dump(data, handle)
        try:
            subprocess.run(
                [python, __file__, str(png.with_suffix(".tmp.json")), str(png)],
                check=True,
                timeout=300,
            )
        finally:
            png.with_suffix(".tmp.json").unlink(missing_ok=True)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    endpoints = _endpoints(data)
    apps = [f"{v}/{r}" for v in _variants(data) for r in ("G", "B")]
    width = 0.8 / max(1, len(apps))
    fig, axes = plt.subplots(2, 1, figsize=(12, 9))
    ax = axes[0]
    for i, app in enumerate(apps):
        values = [data["instructions"].get(app, {}).get(e, 0) / 1e6 for e in endpoints]
        ax.bar([x + i * width for x in range(len(endpoints))], values, width, label=app)
    ax.set_ylabel("million instructions / request")
    ax.set_title("Instructions per request (callgrind; lower is better)")
    ax.set_xticks(
        [x + width * (len(apps) - 1) / 2 for x in range(len(endpoints))], endpoints, fontsize=8
    )
    ax.legend(fontsize=8, ncols=3)
    ax = axes[1]
    load = data["load"]
    if load:
        connections = min(row["connections"] for row in load)
        for i, app in enumerate(apps):
            variant, role = app.split("/")
            values = [
                next(
                    (
                        row[f"{role}_rps"]
                        for row in load
                        if row["variant"] == variant
                        and row["endpoint"] == e
                        and row["connections"] == connections
                    ),
                    0,
                )
                for e in endpoints
            ]
            ax.bar([x + i * width for x in range(len(endpoints))], values, width, label=app)
        ax.set_title(
            f"Requests per second, wrk, {connections} connections "
            "(2 workers on one CPU; shared VM: +-30%)"
        )
        ax.set_ylabel("requests / s")
        ax.set_xticks(
            [x + width * (len(apps) - 1) / 2 for x in range(len(endpoints))], endpoints, fontsize=8
        )
        ax.legend(fontsize=8, ncols=3)
    fig.suptitle(f"flaskfast: generated (G) vs bare (B), {data['meta']['date']}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)


if __name__ == "__main__":
    chart(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
