#!/usr/bin/env bash
# tmux, the terminal the fault suite types into (Ctrl-C as a person presses it reaches the whole
# foreground process group): Debian's `tmux` package, installed once (as root, or through sudo).
set -euo pipefail

if command -v tmux >/dev/null; then
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bidlake"
mkdir -p "$cache"
exec 9>"$cache/tmux.lock"
flock 9
if command -v tmux >/dev/null; then
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "installing Debian's tmux for the terminal tests (once)" >&2
apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2; }
if ! apt_get install -y --no-install-recommends tmux; then
  apt_get update
  apt_get install -y --no-install-recommends tmux
fi
command -v tmux >/dev/null
