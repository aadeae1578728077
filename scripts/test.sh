#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (kernel tests need root;
# without it they say what they skip).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build --build-tests
# Serially: the leak checks count descriptors and sockets of the whole process.
exec swift test --skip-build --no-parallel "$@"
