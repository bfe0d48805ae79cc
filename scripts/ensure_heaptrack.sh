#!/bin/sh
# Installs Debian's heaptrack (and zstd, to read its profiles) for the node TLS heap test
# (tests/firmware/test_tls_heap.py, bench/tls_cost.py) when they are missing.
set -e
if command -v heaptrack >/dev/null 2>&1 && command -v zstd >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "heaptrack/zstd missing: install Debian packages heaptrack and zstd" >&2
    exit 1
fi
echo "installing heaptrack and zstd from Debian"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq heaptrack zstd >/dev/null
