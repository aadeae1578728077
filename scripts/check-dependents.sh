#!/usr/bin/env bash
# BindKit as other packages use it, each a fresh package in a scratch directory (removed after):
#  1. one that depends on BindKit alone (a path dependency) builds, and its program binds: swift-nio
#     must appear neither in its checkouts nor in its build log (the NIO trait is off);
#  2. a copy of Examples/NIOServer (BindKit's NIO trait on) builds, and its tests pass: a server
#     whose port is held says why, naming the holder. Skipped with --without-nio.
# A first build of swift-nio takes minutes on 2 cores (about 6 here): see docs/nio.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
with_nio=1
[ "${1:-}" = "--without-nio" ] && with_nio=0
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bindkit-dependents.XXXXXX")
# SwiftPM also leaves a lock file per build directory in $TMPDIR, named after its path.
locks="$(dirname "$scratch")/$(echo "$scratch" | tr / _)_"
trap 'rm -rf "$scratch" "$locks"*' EXIT

echo "== a package that depends on BindKit alone ($scratch/plain)"
mkdir -p "$scratch/plain/Sources/Plain"
cat > "$scratch/plain/Package.swift" <<SWIFT
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Plain",
    dependencies: [.package(name: "BindKit", path: "$repo")],
    targets: [.executableTarget(name: "Plain", dependencies: [.product(name: "BindKit", package: "BindKit")])]
)
SWIFT
cat > "$scratch/plain/Sources/Plain/main.swift" <<'SWIFT'
import BindKit

func run() throws {
    let server = try Socket(family: .inet, transport: .tcp)
    try server.setReuseAddress(true)
    try server.bind(to: SocketAddress(parsing: "127.0.0.1:0"))
    try server.listen()
    print("Plain: listening on \(try server.localAddress)")
}
try run()
SWIFT
(cd "$scratch/plain" && swift build 2>&1) > "$scratch/plain.log" || { cat "$scratch/plain.log"; echo "check-dependents: the plain package does not build" >&2; exit 1; }
tail -1 "$scratch/plain.log"
checkouts=$(ls "$scratch/plain/.build/checkouts")
echo "checkouts: $(echo $checkouts)"
if echo "$checkouts" | grep -qi nio || grep -qi "swift-nio" "$scratch/plain.log"; then
  echo "check-dependents: swift-nio was fetched or built for a package that does not ask for it" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  out=$(unshare -n sh -c 'ip link set lo up && exec "$0"' "$scratch/plain/.build/debug/Plain")
else
  out=$("$scratch/plain/.build/debug/Plain")
fi
echo "$out"
echo "$out" | grep -q "^Plain: listening on 127.0.0.1:" || { echo "check-dependents: the plain program did not bind" >&2; exit 1; }

if [ "$with_nio" -eq 1 ]; then
  echo "== Examples/NIOServer, BindKit's NIO trait on ($scratch/nio)"
  mkdir -p "$scratch/nio"
  (cd "$repo/Examples/NIOServer" && tar --exclude=.build --exclude=Package.resolved -cf - .) | (cd "$scratch/nio" && tar -xf -)
  sed -i "s|path: \"../..\"|path: \"$repo\"|" "$scratch/nio/Package.swift"
  grep -q "path: \"$repo\"" "$scratch/nio/Package.swift" || { echo "check-dependents: could not point the copy at $repo" >&2; exit 1; }
  start=$(date +%s)
  (cd "$scratch/nio" && swift build --build-tests 2>&1) > "$scratch/nio.log" || { tail -40 "$scratch/nio.log"; echo "check-dependents: NIOServer does not build" >&2; exit 1; }
  echo "built in $(( $(date +%s) - start )) s (swift-nio included)"
  (cd "$scratch/nio" && swift test --skip-build 2>&1) | tee "$scratch/nio-test.log" | grep -E "✔|✘|Test run"
  grep -q "Test run with [0-9]* tests.* passed" "$scratch/nio-test.log" || { echo "check-dependents: NIOServer's tests failed" >&2; exit 1; }
fi
echo "check-dependents: ok"
