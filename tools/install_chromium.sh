#!/usr/bin/env bash
# Chromium from Debian's packages, for the browser test of `skemotion serve`
# (Playwright drives this binary: its own browser download needs the internet).
# Does nothing when a chromium is already on the PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q chromium >/dev/null; then
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q chromium >/dev/null
fi
command -v chromium
