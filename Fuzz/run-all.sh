#!/usr/bin/env bash
# Builds the fuzz package with libFuzzer and AddressSanitizer, then runs every fuzz
# target for SECONDS each (default 60), and fails if any of them finds a crash.
#
#   Fuzz/run-all.sh [SECONDS]
#
# Targets are found by directory: every Sources/<Target>/ is an executable target of
# this package. For each one:
#   - seeds:      Seeds/<Target>/ (committed; read, never written)
#   - dictionary: Dictionaries/<Target>.dict, or Dictionaries/<name>.dict where <name> is
#                 the target's name without its "Fuzz" prefix, lowercased
#                 (FuzzAddresses -> Dictionaries/addresses.dict), if either exists
#   - corpus:     $FUZZ_WORK/<Target>/corpus (scratch, grows between runs)
#   - crashes:    $FUZZ_WORK/<Target>/crash-*, leak-*, timeout-* (add them to the seeds
#                 once fixed)
# FUZZ_WORK defaults to /tmp/bindkit-fuzz. Extra libFuzzer flags can be passed in
# FUZZ_FLAGS (for example FUZZ_FLAGS="-jobs=2 -workers=2").
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS]   (a positive whole number; default 60)" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
work="${FUZZ_WORK:-/tmp/bindkit-fuzz}"
scratch=".build-fuzz"

echo "== building the fuzz targets (libFuzzer + AddressSanitizer)"
swift build --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address
bin="$(swift build --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address --show-bin-path)"

targets=()
for dir in Sources/*/; do
    targets+=("$(basename "$dir")")
done
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets under Sources/" >&2
    exit 1
fi

failed=()
for target in "${targets[@]}"; do
    if [ ! -x "$bin/$target" ]; then
        echo "== $target: no executable at $bin/$target" >&2
        failed+=("$target (not built)")
        continue
    fi
    corpus="$work/$target/corpus"
    mkdir -p "$corpus"
    args=("$corpus")
    [ -d "Seeds/$target" ] && args+=("Seeds/$target")
    short="$(echo "${target#Fuzz}" | tr '[:upper:]' '[:lower:]')"
    for dict in "Dictionaries/$target.dict" "Dictionaries/$short.dict"; do
        if [ -f "$dict" ]; then
            args+=("-dict=$dict")
            break
        fi
    done
    echo "== $target for ${seconds}s: ${args[*]}"
    # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
    if "$bin/$target" "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/$target/" ${FUZZ_FLAGS:-}; then
        echo "== $target: no crash"
    else
        status=$?
        echo "== $target: FAILED (exit $status); reproducer in $work/$target/" >&2
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#targets[@]} fuzz target(s) ran ${seconds}s each without a crash"
