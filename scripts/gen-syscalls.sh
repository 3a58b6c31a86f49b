#!/usr/bin/env bash
# Regenerates src/runtime/seccomp/syscalls/*.ts from the kernel UAPI headers (see gen-syscalls.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npx tsc --outDir "$tmp/scripts" --rootDir scripts --module commonjs --target es2022 --types node \
  --strict --skipLibCheck scripts/gen-syscalls.ts
node "$tmp/scripts/gen-syscalls.js" "$PWD/src/runtime/seccomp/syscalls"
