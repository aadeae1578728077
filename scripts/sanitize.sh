#!/usr/bin/env bash
# The whole test suite under a sanitizer: `address` (AddressSanitizer, with LeakSanitizer) or
# `thread` (ThreadSanitizer: the matrix's parallel workers). A report fails the run.
# Usage: scripts/sanitize.sh address|thread [swift test arguments]
# The conformance matrix test runs a seeded sample of BINDKIT_TEST_MATRIX_SAMPLE cells (20,000
# unless set) since a sanitizer makes it 10 to 50 times slower; the plain test command runs all.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in
  address|thread) shift ;;
  *) echo "scripts/sanitize.sh: say which sanitizer: address or thread (got '${kind}')" >&2; exit 64 ;;
esac
scripts/deps.sh
scratch=.build-sanitize-$kind
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
export BINDKIT_TEST_MATRIX_SAMPLE=${BINDKIT_TEST_MATRIX_SAMPLE:-20000}
# Reports go to files, from the test process and from every child it runs (bindcheck built with
# the same sanitizer): a child's report would otherwise vanish into a test's captured stderr, and
# the sanitizer's one-line warnings would break the tests that read a child's stderr exactly.
logs=$(mktemp -d /tmp/bindkit-sanitizer.XXXXXX)
trap 'rm -rf "$logs"' EXIT
chmod 1777 "$logs"  # the tests' children run as other uids, and write their reports here too
# XCTest's own runner leaks a few allocations at exit (nothing of ours): scripts/lsan.supp.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$logs/asan
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan
# Swift's own crash backtracer reads raw memory, which AddressSanitizer would report as its own error.
export SWIFT_BACKTRACE=enable=no
status=0
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" --no-parallel "$@" || status=$?

reports=$(grep -lE "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer" "$logs"/* 2>/dev/null || true)
# ASan warns once in each child that calls a no-return function off its main stack (the shim's
# children run on stacks of their own): counted, not printed. Anything else is printed in full.
benign="ASan is ignoring requested __asan_handle_no_return"
quiet=0
for f in "$logs"/*; do
  [ -e "$f" ] || continue
  if [ -z "$(grep -vE "$benign|False positive error reports may follow|google/sanitizers/issues/189" "$f")" ]; then
    quiet=$((quiet + 1))
    continue
  fi
  echo "== sanitizer output ($(basename "$f")):" >&2
  cat "$f" >&2
done
[ "$quiet" -eq 0 ] || echo "scripts/sanitize.sh: $quiet process(es) gave only the warning \"$benign\" (children on their own stacks)"
if [ -n "$reports" ]; then
  echo "scripts/sanitize.sh: the $kind sanitizer reported errors (above)" >&2
  exit 1
fi
exit "$status"
