#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker (used by tests and `bidlake up`) into a cache outside the
# clone, once. Idempotent: a second run only checks the version and prints the path.
# Prints the path of the tansu binary on stdout; progress goes to stderr.
set -euo pipefail

TANSU_VERSION="0.6.0"
CACHE="${BIDLAKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake}"
ROOT="$CACHE/tansu-$TANSU_VERSION"
BIN="$ROOT/bin/tansu"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE"
# One installer at a time: two shells (README command + `bidlake up`) may race here.
exec 9>"$CACHE/tansu-install.lock"
flock 9
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

echo "installing tansu $TANSU_VERSION into $ROOT (about 11 minutes on 2 cores, once)" >&2
build_dir="$CACHE/tansu-build"
CARGO_TARGET_DIR="$build_dir" cargo install tansu --version "$TANSU_VERSION" --locked \
  --features libsql --root "$ROOT.partial" -j "${CARGO_BUILD_JOBS:-2}" >&2
# Install into a partial root and rename, so a killed install never leaves a half binary behind.
rm -rf "$ROOT"
mv "$ROOT.partial" "$ROOT"
rm -rf "$build_dir"
echo "$BIN"
