"""`python -m {{ cookiecutter.package_name }}.core.preflight`: what gunicorn's master runs before any worker."""

import json
import os
import subprocess
import sys

from {{ cookiecutter.package_name }}.core.settings import ENV_PREFIX


def preflight(**variables: str) -> subprocess.CompletedProcess[str]:
    """Run the check as gunicorn.conf.py does, with `variables` over this environment.

    The environment holds the access mode's settings (tests/access_fixtures.py).
    """
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.core.preflight"],
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_valid_settings_print_the_logging_choice() -> None:
    done = preflight(
        **{f"{ENV_PREFIX}LOG_LEVEL": "DEBUG", f"{ENV_PREFIX}ENVIRONMENT": "development"}
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"log_level": "DEBUG", "log_format": "console"}


def test_a_bad_setting_is_one_line_naming_it() -> None:
    done = preflight(**{f"{ENV_PREFIX}MONGO_TIMEOUT_MS": "soon"})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"invalid setting {ENV_PREFIX}MONGO_TIMEOUT_MS: "
        "Input should be a valid integer, unable to parse string as an integer\n"
    )
