#!/usr/bin/env bash
# Runs the platform on its embedded defaults in the current directory (data in ./bidlake-data):
# installs the tansu broker (once, into ~/.cache/bidlake), builds bidlake with the test suite's
# build command (scripts/build.sh; quick when nothing changed), and runs `bidlake up` with any
# arguments given here (e.g. --rate 100, --data-dir /tmp/lake). Ctrl-C stops it cleanly.
# BIDLAKE_RELEASE=1 builds and runs the optimised binary instead (for high rates);
# BIDLAKE_BIN=/path/to/bidlake runs that binary without building (the docs test does).
set -euo pipefail
here="$PWD"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  TANSU_BIN="$("$repo/scripts/install-tansu.sh")"
  export TANSU_BIN
fi
if [[ -n "${BIDLAKE_BIN:-}" ]]; then
  exec "$BIDLAKE_BIN" up "$@"
fi
profile=debug
build=("$repo/scripts/build.sh")
if [[ "${BIDLAKE_RELEASE:-}" == 1 ]]; then
  profile=release
  build+=(--release)
fi
"${build[@]}" >&2
cd "$here"
exec "$CARGO_TARGET_DIR/$profile/bidlake" up "$@"
