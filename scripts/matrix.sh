#!/usr/bin/env bash
# The main job: installs what is missing, builds bindcheck (release), runs the conformance matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product bindcheck >&2
exec .build/release/bindcheck matrix "$@"
