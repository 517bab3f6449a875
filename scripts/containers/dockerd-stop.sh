#!/usr/bin/env bash
# Stop the engine that dockerd-start.sh started on STATE_DIR (by its pid), then
# clean its exec root. Containers still running are stopped by the engine itself.
set -euo pipefail
state=${1:?usage: dockerd-stop.sh STATE_DIR}
pidfile="$state/dockerd.pid"
if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd (pid $pid) ignored SIGTERM for 30 s; killing it" >&2
            kill -KILL "$pid" || true
        fi
    fi
    rm -f "$pidfile"
fi
if [ -f "$state/exec-root" ]; then
    exec_root=$(cat "$state/exec-root")
    case "$exec_root" in
        /tmp/ffdx.*)
            # dockerd leaves its network namespace bind-mounted there.
            awk -v root="$exec_root/" 'index($2, root) == 1 { print $2 }' /proc/mounts \
                | sort -r | while read -r mnt; do umount -l "$mnt" || true; done
            rm -rf "$exec_root" ;;
    esac
    rm -f "$state/exec-root"
fi
