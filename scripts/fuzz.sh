#!/usr/bin/env bash
# Fuzzes berth-init's plan decoder (native/init/plan.c) with libFuzzer + ASan + UBSan.
#   scripts/fuzz.sh [seconds=60]
# Seeds come from encodePlan() (test/helpers/encode-seeds.ts); crashes land in native/build/fuzz/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-60}"
if ! command -v clang >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang >/dev/null
  else
    echo "fuzz: clang is missing (apt-get install clang)" >&2
    exit 1
  fi
fi
out=native/build/fuzz
mkdir -p "$out/corpus" "$out/seeds"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -o "$out/fuzz_plan" native/fuzz/fuzz_plan.c native/init/plan.c
if [ ! -f dist/test/helpers/encode-seeds.js ]; then npx --no-install tsc -p tsconfig.json >/dev/null || true; fi
node dist/test/helpers/encode-seeds.js "$out/seeds"
cd "$out"
exec ./fuzz_plan -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
  -artifact_prefix=./ -print_final_stats=1 corpus seeds
