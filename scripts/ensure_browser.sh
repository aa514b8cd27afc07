#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the real-browser tests (tests/e2e) and the browser
# latency benchmark. `playwright install` cannot download its own browsers in our environments, so
# Playwright drives the distribution's /usr/bin/chromium instead.
# Installs it with apt-get when it is missing and we are root; otherwise exits non-zero with a
# message saying what to do. Usage: scripts/ensure_browser.sh   (CHROMIUM=/path overrides the path)
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
    echo "browser ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_browser: $CHROMIUM is missing and this user is not root, so it cannot be installed." >&2
    echo "ensure_browser: ask an administrator to run: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: $CHROMIUM is missing and apt-get is not available (not Debian/Ubuntu?)." >&2
    echo "ensure_browser: install chromium with your package manager, or set CHROMIUM=/path/to/chromium." >&2
    exit 1
fi

echo "ensure_browser: installing chromium with apt-get (this takes a few minutes) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y chromium fonts-dejavu-core

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_browser: apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi
echo "browser ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
