#!/usr/bin/env bash
# Start a private Docker engine for the template's container tests.
#
# Usage: dockerd-start.sh STATE_DIR
# Data and exec roots, socket, pid file and log all live under STATE_DIR, so this
# engine never touches a system-wide one. No iptables (the tests need no NAT:
# builds use the host network, containers talk over the compose bridge and the
# host reaches published ports through docker-proxy). Prints the DOCKER_HOST value
# on success; exits non-zero with the reason when the engine cannot start.
set -euo pipefail
state=${1:?usage: dockerd-start.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
sock="$state/docker.sock"

if ! command -v dockerd >/dev/null; then
    echo "dockerd not installed (Debian: apt-get install docker.io)" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "dockerd needs root here (running as uid $(id -u))" >&2
    exit 2
fi
if [ -f "$state/dockerd.pid" ] && kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
    echo "an engine already runs on $state (pid $(cat "$state/dockerd.pid"))" >&2
    exit 3
fi

# A short exec root: containerd socket paths must stay under 108 bytes.
exec_root=$(mktemp -d /tmp/ffdx.XXXXXX)
echo "$exec_root" > "$state/exec-root"
setsid dockerd \
    --host "unix://$sock" \
    --data-root "$state/data" \
    --exec-root "$exec_root" \
    --pidfile "$state/dockerd.engine.pid" \
    --storage-driver overlay2 \
    --iptables=false --ip6tables=false \
    >"$state/dockerd.log" 2>&1 </dev/null &
echo $! > "$state/dockerd.pid"

for _ in $(seq 1 120); do
    if docker --host "unix://$sock" version >/dev/null 2>&1; then
        echo "unix://$sock"
        exit 0
    fi
    if ! kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
        echo "dockerd exited during start-up; last log lines:" >&2
        tail -n 5 "$state/dockerd.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "dockerd did not answer within 60 s; see $state/dockerd.log" >&2
"$(dirname "$0")/dockerd-stop.sh" "$state" || true
exit 1
