"""Check every setting a worker reads, before the server starts one.

`python -m {{ cookiecutter.package_name }}.core.preflight` reads the service's settings
(`settings.load_settings`) and the access mode's (`access.load_policy`) from the
environment and `.env`, as each worker's `create_app()` does. gunicorn.conf.py runs it
in the gunicorn master, as a child process, before any worker forks, so a missing or bad
setting stops start-up once, with one line, instead of a traceback in every worker.
"""

import json
import sys

from .access import load_policy
from .settings import SettingsError, load_settings


def main() -> int:
    """Check the settings; return the exit status.

    On success, print `{"log_level": ..., "log_format": ...}` (one JSON line: what the
    server's logging needs, `auto` resolved) and return 0. Otherwise print the first
    problem on stderr, one line naming the variable (`invalid setting
    {{ cookiecutter.package_name|upper }}_MONGO_URI: ...`), and return 1.
    """
    try:
        settings = load_settings()
        load_policy()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps({"log_level": settings.log_level, "log_format": settings.resolved_log_format}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
