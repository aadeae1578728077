#!/usr/bin/env bash
# Builds the DocC catalogs of BindKit, BindRules and BindConformance with every warning an error
# (a broken symbol link, an unknown article): what CI runs.
#
#   scripts/docs.sh [OUTPUT-DIR]    (default .build/docs: one MODULE.doccarchive each)
#
# The symbol graphs come from `swift package dump-symbol-graph` (a debug build) and the archives
# from the toolchain's `docc convert`: no plugin, no package dependency, nothing fetched. To
# browse one: `docc preview Sources/BindKit/BindKit.docc --additional-symbol-graph-dir DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/docs}
echo "docs: symbol graphs (swift package dump-symbol-graph)" >&2
# It also tries the test modules and fails on them when the tests were never built (a fresh
# clone): what counts is that the three library graphs were written, checked below.
rm -rf .build/*/symbolgraph  # a stale graph must not stand in for a failed build
swift package dump-symbol-graph --skip-synthesized-members --minimum-access-level public >&2 || true
graphs=$(ls -d .build/*/symbolgraph 2>/dev/null | head -1)
for module in BindKit BindRules BindConformance; do
  [ -n "$graphs" ] && [ -s "$graphs/$module.symbols.json" ] || { echo "docs: no symbol graph for $module" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/bindkit-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for module in BindKit BindRules BindConformance; do
  mkdir -p "$work/$module"
  cp "$graphs/$module.symbols.json" "$work/$module/"
  find "$graphs" -maxdepth 1 -name "$module@*.symbols.json" -exec cp {} "$work/$module/" \;
  echo "docs: $module" >&2
  docc convert "Sources/$module/$module.docc" \
    --additional-symbol-graph-dir "$work/$module" \
    --fallback-display-name "$module" --fallback-bundle-identifier "bindkit.$module" \
    --output-path "$out/$module.doccarchive" --warnings-as-errors --analyze >&2
done
echo "docs: $(ls -d "$out"/*.doccarchive | tr '\n' ' ')" >&2
