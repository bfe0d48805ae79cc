#!/bin/sh
# Installs Debian's chromium + chromedriver for the browser tests when they are missing.
# Needs root (CI and the dev machines run as root); elsewhere it says what to install.
set -e
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium/chromedriver missing: install Debian packages chromium and chromium-driver" >&2
    exit 1
fi
echo "installing chromium and chromium-driver from Debian"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
