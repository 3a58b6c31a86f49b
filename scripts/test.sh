#!/usr/bin/env bash
# Runs every test: unit tests (no root needed) and, as root, integration tests that run real
# containers. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" = 0 ]; then export BERTH_EXTRA_PKGS="${BERTH_EXTRA_PKGS:-} runc libseccomp-dev"; fi
bash scripts/setup.sh
paths=(dist/test/unit)
if [ "$(id -u)" = 0 ]; then
  paths+=(dist/test/integration)
else
  echo "test: not root, integration tests skipped" >&2
fi
exec node --test --test-concurrency=2 --test-reporter=spec "${paths[@]}"
