#!/usr/bin/env bash
# Runs every test: unit tests (no root needed) and, as root, integration tests that run real
# containers. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Peers and fixtures the integration tests drive: runc (a peer runtime), skopeo and umoci (image
# interop), docker-registry + apache2-utils (a local registry with htpasswd), CNI plugins and iptables
# (pod networking), attr and zstd (layer xattrs and compression), libseccomp-dev (cross-checks).
if [ "$(id -u)" = 0 ]; then
  export BERTH_EXTRA_PKGS="${BERTH_EXTRA_PKGS:-} runc skopeo umoci docker-registry apache2-utils \
    containernetworking-plugins iptables attr zstd libseccomp-dev openssl procps util-linux python3"
fi
bash scripts/setup.sh
paths=(dist/test/unit)
if [ "$(id -u)" = 0 ]; then
  paths+=(dist/test/integration)
else
  echo "test: not root, integration tests skipped" >&2
fi
# A test that hangs fails after 10 minutes instead of holding up the whole run.
exec node --test --test-concurrency=2 --test-timeout=600000 --test-reporter=spec "${paths[@]}"
