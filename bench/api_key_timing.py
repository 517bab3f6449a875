"""Time the api_key check against how much of a configured key a wrong key matches.

`python -m bench.api_key_timing [--rounds 400] [--batch 200]` bakes an `auth=api_key`
service (Flask, default resource) into a temporary folder, installs it from its lock,
and runs the measurement in its venv: `access.Policy.authenticate` with three
configured keys of 64 characters, presented keys that match none of the first key,
half of it, all of it but the last character, and the key itself. Rounds interleave
the cases (noise hits them alike); each round times one batch of calls per case with
`time.perf_counter_ns`. It prints ns per call: the median over rounds and the 10th-90th
percentile spread. Wall time on a shared VM is noisy: compare the medians' differences
with the spread, and read them as a note, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY_LENGTH = 64


def cases(secret: str) -> dict[str, str]:
    """Return presented keys by name: prefixes of `secret` that match, then differ."""

    def flip(char: str) -> str:
        return "0" if char != "0" else "1"

    half = KEY_LENGTH // 2
    return {
        "prefix 0": flip(secret[0]) + secret[1:],
        f"prefix {half}": secret[:half] + flip(secret[half]) + secret[half + 1 :],
        f"prefix {KEY_LENGTH - 1}": secret[:-1] + flip(secret[-1]),
        "the key (accepted)": secret,
    }


def measure(package: str, rounds: int, batch: int) -> dict[str, dict[str, float]]:
    """Return ns per call (median, p10, p90) of each case; run in the bake's venv."""
    import importlib
    import secrets

    access = importlib.import_module(f"{package}.access")
    keys = [
        # 64 characters of a 64-letter alphabet: random enough for production's checks.
        {
            "id": f"caller-{n}",
            "key": secrets.token_urlsafe(KEY_LENGTH)[:KEY_LENGTH],
            "scopes": ["items:read"],
        }
        for n in range(3)
    ]
    policy = access.load_policy(auth_api_keys=keys)
    presented = cases(keys[0]["key"])
    timings: dict[str, list[float]] = {name: [] for name in presented}
    for round_ in range(rounds + rounds // 10):
        order = list(presented.items())
        if round_ % 2:
            order.reverse()
        for name, key in order:
            values = [key]
            start = time.perf_counter_ns()
            for _ in range(batch):
                with contextlib.suppress(access.AccessError):
                    policy.authenticate(values, "")
            elapsed = time.perf_counter_ns() - start
            if round_ >= rounds // 10:  # the first tenth warms up
                timings[name].append(elapsed / batch)
    result = {}
    for name, values in timings.items():
        deciles = statistics.quantiles(values, n=10)
        result[name] = {
            "median_ns": statistics.median(values),
            "p10_ns": deciles[0],
            "p90_ns": deciles[-1],
        }
    return result


def main() -> int:
    """Bake and install an api_key service, time its check, print a markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.api_key_timing")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # inner run: the package name
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds, args.batch)))
        return 0
    from tests.support import bake, install

    with tempfile.TemporaryDirectory(prefix="api-key-timing-") as folder:
        project = bake(Path(folder), framework="flask", auth="api_key")
        python = install(project)
        done = subprocess.run(
            [
                str(python),
                __file__,
                "--measure",
                "item_service",
                "--rounds",
                str(args.rounds),
                "--batch",
                str(args.batch),
            ],
            cwd=project,
            env={k: v for k, v in os.environ.items() if "AUTH_" not in k},
            capture_output=True,
            text=True,
            check=True,
        )
    found = json.loads(done.stdout)
    print(
        f"api_key check, 3 keys of {KEY_LENGTH} characters, {args.rounds} rounds of "
        f"{args.batch} calls\n"
    )
    print("| Presented key matches the first key's | median ns/call | p10-p90 ns/call |")
    print("|---|---:|---:|")
    for name, row in found.items():
        print(f"| {name} | {row['median_ns']:,.0f} | {row['p10_ns']:,.0f}-{row['p90_ns']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
