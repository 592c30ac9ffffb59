#!/usr/bin/env bash
# The fault soak: dozens of kill -9s of ingest (and a broker restart every tenth round) while
# good and bad records arrive, then a check that every record is exactly one row or one dead
# letter. Not part of scripts/test.sh (several minutes); see docs/reliability.md.
#
#   scripts/soak-faults.sh            # 60 rounds
#   FAULT_SOAK_ROUNDS=200 scripts/soak-faults.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
TANSU_BIN="$(scripts/install-tansu.sh)"
export TANSU_BIN
export FAULT_SOAK_ROUNDS="${FAULT_SOAK_ROUNDS:-60}"
exec cargo nextest run -p bidlake --test faults --run-ignored only --no-capture soak_dozens_of_kill_9s
