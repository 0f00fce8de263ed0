#!/usr/bin/env bash
# Makes sure this machine has a WebGPU adapter for Dawn (npm `webgpu`).
#
# On Linux without a GPU, Dawn needs a software Vulkan driver. Debian 12's own Mesa (22.x) is too
# old ("Vulkan shaderUniform*ArrayDynamicIndexing required"); Mesa 25.x lavapipe from
# bookworm-backports works. This script adds the backports suite by reusing the mirror URI that the
# system's apt sources already name (no host is hard-coded here), then installs
# `mesa-vulkan-drivers` and `libvulkan1` from it.
#
# Idempotent and quick: when a new-enough lavapipe (or any Vulkan ICD besides an old lavapipe) is
# present it changes nothing. Set KDGPU_SKIP_SETUP=1 to skip entirely.
set -euo pipefail

log() { printf 'setup-webgpu: %s\n' "$*" >&2; }

if [ "${KDGPU_SKIP_SETUP:-}" = 1 ]; then log "KDGPU_SKIP_SETUP=1, skipping"; exit 0; fi
if [ "$(uname -s)" != Linux ]; then log "not Linux: nothing to install (Dawn uses Metal/D3D12)"; exit 0; fi

mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
# (grep reads all its input, not -q: with pipefail, -q's early exit can end ldconfig with SIGPIPE,
# failing the check now and then and reinstalling Mesa for nothing.)
have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null ; }
# A non-Mesa ICD (NVIDIA, AMD proprietary) means a real GPU driver is present.
have_other_icd() {
  local d
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    [ -d "$d" ] || continue
    if ls "$d" 2>/dev/null | grep -vE '^(lvp|radeon|intel|intel_hasvk|nouveau|virtio|freedreno|broadcom|panfrost|asahi|powervr|gfxstream|dzn)_icd' >/dev/null; then return 0; fi
  done
  return 1
}
mesa_ok() {
  local v; v=$(mesa_version)
  [ -n "$v" ] || return 1
  dpkg --compare-versions "$v" ge 24 
}

if have_loader && { mesa_ok || have_other_icd; }; then
  log "Vulkan loader and driver present (mesa-vulkan-drivers $(mesa_version))"
else
  if ! command -v apt-get >/dev/null; then
    log "no apt-get: install a Vulkan loader and Mesa >= 24 (lavapipe) or a GPU driver by hand"; exit 1
  fi
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" != bookworm ]; then
    # Newer Debian/Ubuntu ship a Mesa that Dawn accepts.
    log "installing mesa-vulkan-drivers and libvulkan1 from ${VERSION_CODENAME:-this release}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1
  else
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      uri=""
      if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: the URIs line of the stanza whose Suites include plain `bookworm`.
        uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ for(i=2;i<=NF;i++) if($i=="bookworm") {print u; exit} }' /etc/apt/sources.list.d/debian.sources)
      fi
      if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
      fi
      if [ -z "$uri" ]; then log "could not find the Debian mirror in apt sources; add bookworm-backports by hand"; exit 1; fi
      log "adding bookworm-backports from $uri"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
        | $SUDO tee /etc/apt/sources.list.d/kdgpu-backports.sources >/dev/null
    fi
    log "installing mesa-vulkan-drivers and libvulkan1 from bookworm-backports"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  log "installed mesa-vulkan-drivers $(mesa_version)"
fi
