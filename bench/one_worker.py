"""Run one gunicorn worker in this very process (no master, no fork), for callgrind.

`python one_worker.py <gunicorn arguments>` reads the same configuration as `gunicorn`
and then does what the master does for a worker, minus the fork: callgrind's control
channel (vgdb) does not follow a forked child, so measuring gunicorn's real worker
class (uvicorn or gevent, same settings as in production) needs it in-process.
"""

import os
import sys

from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.arbiter import Arbiter


def main() -> None:
    """Start the arbiter's sockets and hooks, then become its only worker."""
    arbiter = Arbiter(WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]"))
    arbiter.start()
    # The worker exits when its parent changes: our parent is the one it must watch.
    worker = arbiter.worker_class(
        1,
        os.getppid(),
        arbiter.LISTENERS,
        arbiter.app,
        arbiter.timeout / 2.0,
        arbiter.cfg,
        arbiter.log,
    )
    arbiter.cfg.pre_fork(arbiter, worker)
    worker.pid = os.getpid()
    arbiter.cfg.post_fork(arbiter, worker)
    worker.init_process()
    sys.exit(0)


if __name__ == "__main__":
    main()
