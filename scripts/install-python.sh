#!/usr/bin/env bash
# Installs the Python tools of the test suite (moto_server as the S3 endpoint; PyIceberg and DuckDB
# as independent readers) into a venv outside the clone, once. Idempotent: the venv is keyed by the
# hash of scripts/python-requirements.txt, so a second run only prints the path, and a changed pin
# builds a new venv beside the old one.
# Prints the venv's directory on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

CACHE="${BIDLAKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bidlake}"
HASH="$(sha256sum python-requirements.txt | cut -c1-12)"
VENV="$CACHE/python-$HASH"

if [[ -f "$VENV/.complete" ]]; then
  echo "$VENV"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "error: scripts/install-python.sh needs Python 3.10+ as python3 (or set PYTHON=...)" >&2
  exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/python-install.lock"
flock 9
if [[ -f "$VENV/.complete" ]]; then
  echo "$VENV"
  exit 0
fi

echo "installing moto, PyIceberg, DuckDB and jsonschema into $VENV (a minute or two, once)" >&2
# A venv hard-codes its path in its scripts, so it is built in place; `.complete` marks it whole,
# and a half-built one (a killed install) is started over.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r python-requirements.txt >&2
touch "$VENV/.complete"
echo "$VENV"
