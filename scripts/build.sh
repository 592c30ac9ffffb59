#!/usr/bin/env bash
# The one build command of bidlake. scripts/test.sh builds the test suite through it and the
# Dockerfile builds the image's binary through it, so both use the same system packages, the same
# lockfile (--locked) and the same features; only the profile differs.
#   scripts/build.sh                 # dev profile: the workspace with its tests (what test.sh runs)
#   scripts/build.sh --release       # the release binary, $CARGO_TARGET_DIR/release/bidlake
#   scripts/build.sh --apt-packages  # print the Debian packages a build needs
#   scripts/build.sh --install-deps  # install them with apt-get (as root; the image's builder)
# librdkafka is built from the copy bundled with rdkafka-sys; Debian's librdkafka must never be
# linked (DESIGN §4), so it is not in the list.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A C toolchain and make for the bundled C libraries (librdkafka, zstd, SQLite, aws-lc), and the
# OpenSSL and zlib headers librdkafka links against (TLS and SASL to Kafka, compression).
APT_PACKAGES=(build-essential pkg-config libssl-dev zlib1g-dev)

case "${1:-}" in
  --apt-packages)
    echo "${APT_PACKAGES[*]}"
    exit 0
    ;;
  --install-deps)
    apt-get update
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    rm -rf /var/lib/apt/lists/*
    exit 0
    ;;
  --release) profile=(--release -p bidlake --bin bidlake) ;;
  "") profile=(--workspace --tests) ;;
  *)
    echo "usage: scripts/build.sh [--release | --apt-packages | --install-deps]" >&2
    exit 2
    ;;
esac

missing=()
for tool in cc make pkg-config; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists openssl; then
  missing+=("OpenSSL headers")
fi
if ((${#missing[@]})); then
  echo "error: the build needs ${missing[*]}; on Debian or Ubuntu:" >&2
  echo "  sudo apt-get install ${APT_PACKAGES[*]}" >&2
  exit 1
fi

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake/target}"
exec cargo build --locked "${profile[@]}"
