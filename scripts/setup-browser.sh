#!/usr/bin/env bash
# Makes sure this machine has the browser the end-to-end test drives (test/browser-e2e.test.ts):
# Debian's `chromium` at /usr/bin/chromium, launched by playwright-core (a devDependency) with
# --enable-unsafe-webgpu --enable-features=Vulkan, which gives it a WebGPU adapter even without a GPU.
#
# Idempotent and quick: when /usr/bin/chromium exists it changes nothing. Set KDGPU_SKIP_SETUP=1
# to skip entirely, or KDGPU_CHROMIUM to point the test at another Chromium binary.
set -euo pipefail

log() { printf 'setup-browser: %s\n' "$*" >&2; }

if [ "${KDGPU_SKIP_SETUP:-}" = 1 ]; then log "KDGPU_SKIP_SETUP=1, skipping"; exit 0; fi

if [ -x /usr/bin/chromium ]; then
  log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '(version unknown)')"
  exit 0
fi
if [ -n "${KDGPU_CHROMIUM:-}" ] && [ -x "${KDGPU_CHROMIUM}" ]; then
  log "using KDGPU_CHROMIUM=${KDGPU_CHROMIUM}"
  exit 0
fi
if [ "$(uname -s)" != Linux ] || ! command -v apt-get >/dev/null; then
  log "no apt-get here: install Chromium by hand and set KDGPU_CHROMIUM to its binary"
  exit 1
fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
log "installing Debian's chromium with apt-get (a few minutes)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
if [ ! -x /usr/bin/chromium ]; then
  log "apt-get finished but /usr/bin/chromium is missing; on Ubuntu the chromium package is a snap: install Chromium another way and set KDGPU_CHROMIUM"
  exit 1
fi
log "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
