#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test: Debian's `chromium` package, installed once.
# Prints the browser's path.
exec "$(dirname "${BASH_SOURCE[0]}")/install-apt.sh" chromium
