#!/usr/bin/env bash
# System packages the test suite needs, installed when missing, so that `pnpm test` works on a
# fresh Debian machine with only Node and npm (CI runs the same command). Today: Debian's
# python3-tornado, for @gale/server's interop tests with Tornado's own client.
set -euo pipefail

if /usr/bin/python3 -c 'import tornado' 2>/dev/null; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing python3-tornado with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-tornado >/dev/null
else
  echo "system-deps: the tests need Tornado importable from /usr/bin/python3." >&2
  echo "  Install it (Debian/Ubuntu: sudo apt-get install python3-tornado) and run again." >&2
  exit 1
fi
