"""Turn the benchmark's results (JSON) into a markdown table and a PNG chart.

`python bench/report.py RESULTS.json CHART.png` draws the chart; it needs matplotlib,
which the harness installs into the benchmark venv (not the template's tooling venv).
`python bench/report.py merge OUT_DIR A/results.json B/results.json ...` merges runs made
one variant at a time into one `results.json` and `results.md`.
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


def _gate_base(instructions: dict[str, Any], variant: str, endpoint: str) -> float | None:
    """Return the bare app's count G is gated against: B-durable's, or B's if not measured."""
    for role in ("B-durable", "B"):
        found = instructions.get(f"{variant}/{role}", {}).get(endpoint)
        if found:
            return float(found)
    return None


def _kir(value: float | None) -> str:
    return "" if value is None else f"{value / 1000:,.0f}"


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
        "request ids, ETags); B = bare app written the framework's documented fast way "
        "(`bench/bare_*.py`: response models / the app's JSON provider), driver defaults; "
        "B-durable = the same bare app with the generated service's driver options "
        "(`timeoutMS`, `w=majority`, `j=true`). Same database, gunicorn settings and "
        "library versions.",
        "",
        "## Instructions per request (callgrind, one worker, "
        f"{plan['callgrind_requests']} sequential requests after "
        f"{plan['callgrind_warmup']} warm-up)",
        "",
        "G/B-durable is the gate (what our code costs, durability paid on both sides); "
        "B-durable/B is what the driver options cost (information).",
        "",
        "| Endpoint | Variant | G kIr/req | B kIr/req | B-durable kIr/req | G/B-durable | "
        "B-durable/B | Target | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    instructions = data["instructions"]
    for endpoint in _endpoints(data):
        target = meta["targets"][endpoint]
        for variant in _variants(data):
            g = instructions.get(f"{variant}/G", {}).get(endpoint)
            b = instructions.get(f"{variant}/B", {}).get(endpoint)
            durable = instructions.get(f"{variant}/B-durable", {}).get(endpoint)
            base = _gate_base(instructions, variant, endpoint)
            if g is None or base is None:
                continue
            ratio = g / base
            verdict = "ok" if ratio <= target else "MISS"
            shown = f"{ratio:.2f}" if durable else f"({ratio:.2f} vs B)"
            durability = f"{durable / b:.2f}" if durable and b else ""
            lines.append(
                f"| `{endpoint}` | {variant} | {_kir(g)} | {_kir(b)} | {_kir(durable)} | "
                f"{shown} | {durability} | {target:.2f} | {verdict} |"
            )
    lines += _auth_lines(data)
    lines += _tracing_lines(data)
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
            f"## Load (wrk; G, B and B-durable served at once, 2 gunicorn workers each, all on "
            f"CPU 0; wrk and the database on CPU 1; {plan['wrk_pairs']} interleaved rounds of "
            f"{plan['wrk_seconds']:g} s trials)",
            "",
            "Wall-clock figures on this shared 2-CPU VM swing by about 30% between runs; the "
            "database (a Python server) is usually the bottleneck on DB routes. Read the G/B "
            "ratio (median of per-round ratios, [range]), not the absolute req/s. CPU ms per "
            "request: user + system time of the gunicorn master and workers (`/proc/<pid>/stat`), "
            "so the kernel's share (sockets, writing log lines) counts.",
            "",
            "| Endpoint | Variant | Conns | G req/s | B req/s | B-durable req/s | G/B req/s | "
            "G/B-durable req/s | G p50 / p99 ms | B p50 / p99 ms | CPU ms/req G / B / B-durable |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in data["load"]:
            ratios = []
            for bare in ("B", "B-durable"):
                if f"rps_ratio_{bare}" in row:
                    low, high = row[f"rps_ratio_{bare}_range"]
                    ratios.append(f"{row[f'rps_ratio_{bare}']:.2f} [{low:.2f}-{high:.2f}]")
                else:
                    ratios.append("")
            cpu = " / ".join(
                f"{row[f'{role}_cpu_ms_per_request']:.2f}"
                for role in ("G", "B", "B-durable")
                if f"{role}_cpu_ms_per_request" in row
            )
            lines.append(
                f"| `{row['endpoint']}` | {row['variant']} | {row['connections']} | "
                f"{row['G_rps']:,.0f} | {row['B_rps']:,.0f} | "
                f"{row.get('B-durable_rps', 0):,.0f} | {ratios[0]} | {ratios[1]} | "
                f"{row['G_p50_ms']:.1f} / {row['G_p99_ms']:.1f} | "
                f"{row['B_p50_ms']:.1f} / {row['B_p99_ms']:.1f} | {cpu} |"
            )
    lines += _footprint_lines(data)
    return "\n".join(lines) + "\n"


def _footprint_lines(data: dict[str, Any]) -> list[str]:
    """Return the markdown table of memory per worker and start-up time (if measured)."""
    footprint = data.get("footprint") or {}
    if not footprint:
        return []
    lines = [
        "",
        "## Memory and start-up (2 workers on CPU 0)",
        "",
        "Resident memory (VmRSS) per worker after the load step; time from starting "
        "gunicorn to the first 200 from `/health/ready` (median of "
        f"{max(len(app.get('ready_runs', [])) for app in footprint.values())} cold starts, "
        "polled every 10 ms; wall-clock, so as noisy as the load step).",
        "",
        "| Variant | RSS MB/worker G / B / B-durable | G/B RSS | Ready s G / B / B-durable | "
        "G/B ready |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in _variants(data):
        apps = [footprint.get(f"{variant}/{role}", {}) for role in ("G", "B", "B-durable")]

        def column(key: str, fmt: str, apps: list[dict[str, Any]] = apps) -> tuple[str, str]:
            values = [app.get(key) for app in apps]
            shown = " / ".join("" if v is None else format(v, fmt) for v in values)
            ratio = f"{values[0] / values[1]:.2f}" if values[0] and values[1] else ""
            return shown, ratio

        rss, rss_ratio = column("rss_mb", ".0f")
        ready, ready_ratio = column("ready_s", ".2f")
        lines.append(f"| {variant} | {rss} | {rss_ratio} | {ready} | {ready_ratio} |")
    return lines


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


def _tracing_lines(data: dict[str, Any]) -> list[str]:
    """Return the markdown table of what tracing costs per request (if `--tracing` measured it).

    Each traced role (`G@tracing-...`) as a ratio of G's instructions (tracing=none).
    """
    instructions = data["instructions"]
    roles = sorted(
        {app.split("/")[1] for app in instructions if app.split("/")[1].startswith("G@")},
        key=lambda role: ("off" not in role, "100" not in role),
    )
    if not roles:
        return []
    lines = [
        "",
        "## What tracing costs (G baked with `tracing=opentelemetry`, / G without)",
        "",
        "| Endpoint | Variant | G kIr/req | "
        + " | ".join(r.removeprefix("G@") for r in roles)
        + " |",
        "|---|---|---:|" + "---:|" * len(roles),
    ]
    variants = dict.fromkeys(app.split("/")[0] for app in instructions)
    for variant in variants:
        plain = instructions.get(f"{variant}/G", {})
        for endpoint, ir in plain.items():
            cells = []
            for role in roles:
                traced = instructions.get(f"{variant}/{role}", {}).get(endpoint)
                cells.append(f"{traced / ir:.3f}" if traced else "")
            if any(cells):
                lines.append(
                    f"| `{endpoint}` | {variant} | {ir / 1000:,.0f} | " + " | ".join(cells) + " |"
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
        for role, trials in row["trials"].items():
            failed = sum(trial.get("failed", 0) for trial in trials)
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
                bare_ir = _gate_base(data["instructions"], variant, endpoint)
                target = data["meta"]["targets"][endpoint]
                if bare_ir and ir / bare_ir > target:
                    found.append(f"{app} {endpoint}: G/B-durable {ir / bare_ir:.2f} > {target}")
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
    apps = [f"{v}/{r}" for v in _variants(data) for r in ("G", "B", "B-durable")]
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


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return one result of several runs on different variants (meta of the first, dated last).

    For a reference run made one variant at a time (`--variants X --out DIR` each).
    """
    merged: dict[str, Any] = json.loads(json.dumps(runs[0]))
    for run in runs[1:]:
        merged["meta"]["plan"]["variants"] += run["meta"]["plan"]["variants"]
        merged["meta"]["date"] = run["meta"]["date"]
        for key in ("instructions", "dbops", "footprint"):
            merged.setdefault(key, {}).update(run.get(key, {}))
        merged["load"] += run["load"]
    return merged


def main(argv: list[str]) -> None:
    """`RESULTS.json CHART.png` draws the chart; `merge OUT_DIR RUN.json...` merges runs.

    A merge writes `results.json` and `results.md` into OUT_DIR (the chart needs the
    benchmark venv: `python bench/report.py OUT_DIR/results.json OUT_DIR/results.png`).
    """
    if argv[0] == "merge":
        out = Path(argv[1])
        data = merge([json.loads(Path(path).read_text()) for path in argv[2:]])
        (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / "results.md").write_text(markdown(data))
        return
    chart(json.loads(Path(argv[0]).read_text()), Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
