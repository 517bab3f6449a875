"""Start SecantusDB the way the official mongo image's entrypoint starts mongod.

With MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD set and an empty
/data/db, a temporary server on 127.0.0.1 creates that root user first, then the
real server starts with --auth. Each server start logs "Waiting for connections"
once it accepts connections (testcontainers waits for that line).
"""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time

SERVER = "/opt/secantus/bin/secantusd-py"
DATA = "/data/db"
PORT = 27017


def log(msg: str) -> None:
    """Print one mongod-style JSON log line."""
    now = datetime.datetime.now(datetime.UTC).isoformat()
    line = {"t": {"$date": now}, "s": "I", "c": "NETWORK", "msg": msg, "attr": {"port": PORT}}
    print(json.dumps(line), flush=True)


def start(host: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start the server on host:27017 and wait (at most 60 s) until it accepts connections."""
    proc = subprocess.Popen(
        [SERVER, "--host", host, "--port", str(PORT), "--storage-path", DATA,
         "--standalone", "--log-level", "WARNING", *extra]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"secantusd exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.5).close()
            log("Waiting for connections")
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("secantusd did not listen within 60 s")


def create_root_user(user: str, password: str) -> None:
    """Create the root user on a temporary loopback-only server."""
    from pymongo import MongoClient

    proc = start("127.0.0.1")
    with MongoClient(f"mongodb://127.0.0.1:{PORT}/?retryWrites=false") as client:
        client.admin.command("createUser", user, pwd=password,
                             roles=[{"role": "root", "db": "admin"}])
    proc.terminate()
    proc.wait(30)


def main() -> int:
    """Run the server in the foreground, forwarding SIGTERM/SIGINT to it."""
    user = os.environ.get("MONGO_INITDB_ROOT_USERNAME")
    password = os.environ.get("MONGO_INITDB_ROOT_PASSWORD")
    extra: list[str] = []
    if user and password:
        if not os.listdir(DATA):
            create_root_user(user, password)
        extra.append("--auth")
    proc = start("0.0.0.0", *extra)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
