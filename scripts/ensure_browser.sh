#!/usr/bin/env bash
# Makes sure Debian's chromium and a Chinese (CJK) font are installed for the real-browser tests
# (tests/e2e) and the browser latency benchmark. `playwright install` cannot download its own
# browsers in our environments, so Playwright drives the distribution's /usr/bin/chromium instead.
# Without a CJK font the lang="zh" explorer renders tofu boxes, so the font is part of "ready".
# Installs what is missing with apt-get when we are root; otherwise exits non-zero with a message
# saying what to do. Usage: scripts/ensure_browser.sh   (CHROMIUM=/path overrides the path)
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
# WenQuanYi Micro Hei: 1.6 MB download against 57 MB for fonts-noto-cjk, and covers Simplified Chinese.
CJK_FONT_PACKAGE=${CJK_FONT_PACKAGE:-fonts-wqy-microhei}

has_cjk_font() {
    command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium fonts-dejavu-core)
has_cjk_font || missing+=(fontconfig "$CJK_FONT_PACKAGE")

report_ready() {
    echo "browser ready: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    echo "CJK font ready: $(fc-list :lang=zh family | head -n 1)"
}

if [ ${#missing[@]} -eq 0 ]; then
    report_ready
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_browser: missing ${missing[*]} and this user is not root, so it cannot be installed." >&2
    echo "ensure_browser: ask an administrator to run: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: missing ${missing[*]} and apt-get is not available (not Debian/Ubuntu?)." >&2
    echo "ensure_browser: install chromium and a CJK font with your package manager, or set CHROMIUM=/path/to/chromium." >&2
    exit 1
fi

echo "ensure_browser: installing ${missing[*]} with apt-get (chromium takes a few minutes) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_browser: apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi
if ! has_cjk_font; then
    echo "ensure_browser: apt-get installed $CJK_FONT_PACKAGE but fc-list finds no Chinese font." >&2
    exit 1
fi
report_ready
