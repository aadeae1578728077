#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (kernel tests need root;
# without it they say what they skip).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build --build-tests
exec swift test --skip-build "$@"
