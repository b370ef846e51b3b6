#!/usr/bin/env bash
# `pnpm test`: everything CI checks, the same on a developer's machine and in .ci/run.
set -euo pipefail

# The hostile-input tests open 1,000 sockets at once; the default soft limit is often 1,024.
# Raise it to 65536, or to the hard limit where that is lower (children inherit it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bash scripts/system-deps.sh
turbo run build
biome check .
# At most four tasks at once: the test tasks start redis-servers, Redis Clusters, Chromium and npm
# installs, and on a 2-core machine ten at once (turbo's default) starve each other past their
# timeouts.
turbo run lint typecheck test --concurrency=4
