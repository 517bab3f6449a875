#!/usr/bin/env bash
# Build a local stand-in for the official `python:X.Y-slim` image and tag it so.
#
# Usage: base-image.sh SUITE TAG CACHE_DIR      e.g. base-image.sh bookworm python:3.11-slim DIR
# No registry is reachable from these machines, so the base image the generated
# Dockerfile names is made here: a minimal Debian root filesystem (mmdebstrap) with
# Debian's CPython, `python` on PATH, venv support and passwd (useradd), imported
# with `docker import`. Debian bookworm ships 3.11 and trixie 3.13 (no Debian
# release ships 3.12). The machine's TLS CA bundle and a pip.conf that points pip
# at it are copied into the image at build time (never committed), so `pip install`
# inside builds works behind this machine's TLS proxy. Needs DOCKER_HOST set.
# The rootfs tarball is cached in CACHE_DIR per suite.
set -euo pipefail
suite=${1:?usage: base-image.sh SUITE TAG CACHE_DIR}
tag=${2:?usage: base-image.sh SUITE TAG CACHE_DIR}
cache=${3:?usage: base-image.sh SUITE TAG CACHE_DIR}
ca_bundle=${CA_BUNDLE:-$(python3 -m pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)}
mkdir -p "$cache"
tarball="$cache/rootfs-$suite.tar"

if [ ! -s "$tarball" ]; then
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap not installed" >&2; exit 2; }
    extra=$(mktemp -d)
    trap 'rm -rf "$extra"' EXIT
    install -D -m 0644 "$ca_bundle" "$extra/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$extra/etc/pip.conf"
    mmdebstrap --variant=minbase --quiet \
        --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
        --customize-hook="sync-in $extra /" \
        --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
        "$suite" "$cache/rootfs-$suite.partial.tar"
    mv "$cache/rootfs-$suite.partial.tar" "$tarball"
fi
docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    "$tarball" "$tag" >/dev/null
echo "$tag"
