#!/usr/bin/env bash
# The compaction figures (issue 4): MB/s of input and peak RSS of `maintain --compact` over the
# small files a short commit interval leaves, the same with --sort-by, and snapshot expiry.
# Release build of the benchmark program only (it generates its bid requests in-process); prints
# one line per figure.
#   scripts/bench-maintain.sh                    # N=1000000 bid requests, commits of 10,000 rows
#   N=200000 COMMIT_ROWS=2000 scripts/bench-maintain.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
N="${N:-1000000}"
COMMIT_ROWS="${COMMIT_ROWS:-10000}"

step() { printf '\n==> %s\n' "$*" >&2; }

# COMPACT may name a binary built before; else it is built here.
if [[ -z "${COMPACT:-}" ]]; then
  step "building (release)"
  COMPACT="$(cargo build --release -p bidlake-maintain --bench compact \
    --message-format=json-render-diagnostics | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | head -1)"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"

step "$N bid requests in commits of $COMMIT_ROWS rows, then compaction"
"$COMPACT" --requests "$N" --commit-rows "$COMMIT_ROWS"

step "the same, sorted by device_geo_country,site_domain"
"$COMPACT" --requests "$N" --commit-rows "$COMMIT_ROWS" --sort-by device_geo_country,site_domain
