#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test: Debian's `chromium` package, installed once
# (as root, or through sudo). Prints the browser's path.
set -euo pipefail

if path="$(command -v chromium)"; then
  echo "$path"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/bidlake"
mkdir -p "$cache"
exec 9>"$cache/browser.lock"
flock 9
if path="$(command -v chromium)"; then
  echo "$path"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "installing Debian's chromium for the browser test (once)" >&2
apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2; }
if ! apt_get install -y --no-install-recommends chromium; then
  apt_get update
  apt_get install -y --no-install-recommends chromium
fi
command -v chromium
