#!/usr/bin/env bash
# Installs a Debian package once (as root, or through sudo) unless its command is already there:
#   scripts/install-apt.sh COMMAND [PACKAGE]   (PACKAGE defaults to COMMAND)
# Prints the command's path. Used for the test suite's tools (chromium, tmux).
set -euo pipefail
command_name="$1"
package="${2:-$1}"

if path="$(command -v "$command_name")"; then
  echo "$path"
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bidlake"
mkdir -p "$cache"
exec 9>"$cache/apt-$package.lock"
flock 9
if path="$(command -v "$command_name")"; then
  echo "$path"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "installing Debian's $package for the tests (once)" >&2
apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2; }
if ! apt_get install -y --no-install-recommends "$package"; then
  apt_get update
  apt_get install -y --no-install-recommends "$package"
fi
command -v "$command_name"
