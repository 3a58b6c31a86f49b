#!/usr/bin/env bash
# The main job: installs what it needs (scripts/setup.sh), then makes a busybox bundle from the host's
# busybox-static and runs it with berth-oci, showing that its namespaces are isolated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec node dist/src/demo/oci-demo.js
