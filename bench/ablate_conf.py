"""gunicorn config for profiling: the generated service's config, minus the layers in BENCH_ABLATE.

Used by `python -m bench.ablate`; never by the benchmark itself. Run from a baked
project's directory; BENCH_PACKAGE names its package.
"""

import os
import runpy

globals().update(
    {k: v for k, v in runpy.run_path("gunicorn.conf.py").items() if not k.startswith("__")}
)


def post_fork(server, worker):
    """Patch the layers out before the worker imports the app."""
    from bench.ablate import ablate

    ablate(os.environ["BENCH_PACKAGE"], os.environ.get("BENCH_ABLATE", ""))
