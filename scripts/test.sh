#!/usr/bin/env bash
# Runs every check and test of bidlake, installing what they need (once, into ~/.cache/bidlake).
# This is the README's test command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# Outside the clone, so a fresh clone on a machine that already built starts warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "tools"
TANSU_BIN="$(scripts/install-tansu.sh)"
export TANSU_BIN
BIDLAKE_PYTHON_VENV="$(scripts/install-python.sh)"
export BIDLAKE_PYTHON_VENV
BIDLAKE_CHROMIUM="$(scripts/install-browser.sh)"
export BIDLAKE_CHROMIUM
# tmux: the terminal the fault suite types into (Ctrl-C reaches the whole foreground group).
scripts/install-apt.sh tmux >/dev/null
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

step "format"
cargo fmt --all --check

step "build"
# The same build command the Dockerfile runs (dev profile here, --release there).
scripts/build.sh

step "test"
cargo nextest run --workspace --no-fail-fast

step "lint"
cargo clippy --workspace --all-targets -- -D warnings
