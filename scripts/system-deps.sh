#!/usr/bin/env bash
# System packages the test suite needs, installed when missing, so that `pnpm test` works on a
# fresh Debian machine with only Node and npm (CI runs the same command):
# - python3-tornado, for @gale/server's interop tests with Tornado's own client;
# - chromium (/usr/bin/chromium), which the browser and end-to-end tests drive with playwright-core;
# - redis-server (/usr/bin/redis-server), which the scale-out tests start on a free port.
set -euo pipefail

missing=()
if ! /usr/bin/python3 -c 'import tornado' 2>/dev/null; then missing+=(python3-tornado); fi
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if [ ! -x /usr/bin/redis-server ]; then missing+=(redis-server); fi

if [ "${#missing[@]}" = 0 ]; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "system-deps: the tests need these system packages: ${missing[*]}" >&2
  for package in "${missing[@]}"; do
    case "$package" in
      python3-tornado) echo "  - python3-tornado: Tornado importable from /usr/bin/python3 (@gale/server interop tests)" >&2 ;;
      chromium) echo "  - chromium: a Chromium at /usr/bin/chromium (browser and end-to-end tests)" >&2 ;;
      redis-server) echo "  - redis-server: Redis at /usr/bin/redis-server (@gale/redis and the scale-out tests)" >&2 ;;
    esac
  done
  echo "  Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again." >&2
  exit 1
fi
