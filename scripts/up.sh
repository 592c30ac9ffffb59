#!/usr/bin/env bash
# Runs the platform on its embedded defaults: installs the tansu broker (once, into
# ~/.cache/bidlake), builds bidlake, and runs `bidlake up` with any arguments given here
# (e.g. --rate 100, --data-dir /tmp/lake). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  TANSU_BIN="$(scripts/install-tansu.sh)"
  export TANSU_BIN
fi
cargo build --release -p bidlake >&2
exec "$CARGO_TARGET_DIR/release/bidlake" up "$@"
