#!/usr/bin/env bash
# `pnpm screenshots`: rewrites the demos' README screenshots (apps/*/docs/*.png, tracked files).
# The tests that take them run only here (UPDATE_SCREENSHOTS=1), never in `pnpm test`, so the test
# suite leaves the git tree as it found it. Each app's whole e2e file runs: the screenshots show the
# state its earlier tests leave (messages exchanged, a copy in the cart), so they cannot be picked
# out with a test-name filter. Review the new images with `git diff --stat`.
set -euo pipefail
cd "$(dirname "$0")/.."
turbo run build --filter='./apps/*' --output-logs=errors-only
for app in echo cart-counter chat; do
  (cd "apps/$app" && UPDATE_SCREENSHOTS=1 pnpm exec vitest run --project "$app" \
    test/e2e.integration.test.ts)
done
