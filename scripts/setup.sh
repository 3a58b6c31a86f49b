#!/usr/bin/env bash
# Installs what Berth needs on a fresh Debian machine (idempotent): system packages when root, npm
# dependencies, and the build (native C programs and TypeScript). Used by scripts/test.sh and
# scripts/demo.sh, so each quick-start command works on its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_pkgs=()
command -v gcc >/dev/null || need_pkgs+=(gcc)
command -v make >/dev/null || need_pkgs+=(make)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
dpkg -s iproute2 >/dev/null 2>&1 || need_pkgs+=(iproute2)
for p in ${BERTH_EXTRA_PKGS:-}; do dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p"); done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_pkgs[*]}" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: missing system packages (${need_pkgs[*]}); run as root or install them" >&2
    exit 1
  fi
fi

# npm dependencies: reinstall when package-lock.json changed since the last install
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

make -s -C native >&2
npx --no-install tsc -p tsconfig.json >&2
# berth-oci's one-file bundle with a V8 code cache (bin/berth-oci falls back to dist/ without it)
node scripts/bundle-oci.js >&2
