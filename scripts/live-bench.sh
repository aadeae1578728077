#!/usr/bin/env bash
# explain_ratio and who_ratio (issue 13): in a private network namespace holding 100,000 TCP
# sockets (CONNS=50,000 loopback connections, both ends, and one listener on PORT), the wall time
# of `bindcheck explain 0.0.0.0:PORT` (which must name a holder process) and of `bindcheck who
# PORT`, each divided by the wall time of `ss -tanp 'sport = :PORT'`, run round-robin in the same
# run (ROUNDS rounds, medians). Also the peak memory of explain (/usr/bin/time -v).
#
# The hard descriptor limit here is 20,000 per process (no CAP_SYS_RESOURCE to raise it), so the
# sockets are split: SERVERS processes share the listener (forked after listen()) and each accepts
# and keeps CONNS/SERVERS connections; CLIENTS processes hold the other ends. Every server process
# holds the listener and its own accepted sockets.
#
# Needs root (unshare -n). Usage: scripts/live-bench.sh [BINDCHECK]; default .build/release/bindcheck
# (built when missing). Nothing outlives the run: the namespace goes with its last process.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/bindcheck}
if [ ! -x "$BIN" ]; then swift build -c release --product bindcheck >&2; fi
export BIN PORT=${PORT:-5000} CONNS=${CONNS:-50000} ROUNDS=${ROUNDS:-5} SERVERS=${SERVERS:-4} CLIENTS=${CLIENTS:-4}
exec unshare -n python3 -u - <<'EOF'
import os, socket, statistics, subprocess, sys, time

BIN, PORT, CONNS, ROUNDS = os.environ["BIN"], int(os.environ["PORT"]), int(os.environ["CONNS"]), int(os.environ["ROUNDS"])
SERVERS, CLIENTS = int(os.environ["SERVERS"]), int(os.environ["CLIENTS"])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
if PORT >= 10000: sys.exit("PORT must be below 10000: the clients bind 10000 and up")

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("0.0.0.0", PORT))
listener.listen(4096)

def child(body):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        keep = body()
        os.write(w, b"r")
        while True: time.sleep(3600)
    os.close(w)
    return pid, r

def server(n):
    return lambda: [listener.accept()[0] for _ in range(n)]

def client(n, first):
    def run():
        out = []
        for i in range(n):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # An explicit source port: the kernel's search for a free one slows down as the range fills.
            c.bind(("127.0.0.1", first + i))
            c.connect(("127.0.0.1", PORT))
            out.append(c)
        return out
    return run

per_s, per_c = CONNS // SERVERS, CONNS // CLIENTS
started = time.time()
kids = [child(server(per_s)) for _ in range(SERVERS)]
servers = [p for p, _ in kids]
kids += [child(client(per_c, 10000 + k * per_c)) for k in range(CLIENTS)]
listener.close()  # the servers hold it
for pid, r in kids:
    if os.read(r, 1) != b"r": sys.exit("a holder failed")
total = int(subprocess.run(["ss", "-tanH"], capture_output=True, text=True).stdout.count("\n"))
print(f"namespace: {total} TCP sockets (made in {time.time() - started:.0f} s); {CONNS} connections to :{PORT}; listener held by pids {servers}")

def wall(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t, p

ss = ["ss", "-tanp", f"sport = :{PORT}"]
explain = [BIN, "explain", f"0.0.0.0:{PORT}"]
who = [BIN, "who", "--tcp", str(PORT)]
times = {"ss": [], "explain": [], "who": []}
outputs = {}
try:
    for _ in range(ROUNDS):
        for name, argv in (("ss", ss), ("explain", explain), ("who", who)):
            t, p = wall(argv)
            times[name].append(t)
            outputs[name] = p
    text = outputs["explain"].stdout.decode()
    named = [pid for pid in servers if f"pid {pid}" in text]
    if not named or "EADDRINUSE" not in text.split("\n")[0]:
        sys.exit("explain did not name a holder process:\n" + text + outputs["explain"].stderr.decode())
    m = {k: statistics.median(v) for k, v in times.items()}
    mem = subprocess.run(["/usr/bin/time", "-v"] + explain, capture_output=True, text=True).stderr
    rss = next(l.split(":")[1].strip() for l in mem.splitlines() if "Maximum resident" in l)
    print("explain's first lines:\n  " + "\n  ".join(text.split("\n")[:3]))
    print(f"ss -tanp 'sport = :{PORT}': {m['ss']*1000:.0f} ms  lines {outputs['ss'].stdout.count(10)}")
    print(f"bindcheck explain: {m['explain']*1000:.0f} ms  (names pid {named[0]})  peak RSS {rss} KiB")
    print(f"bindcheck who:     {m['who']*1000:.0f} ms  lines {outputs['who'].stdout.count(10)}")
    print(f"explain_ratio {m['explain']/m['ss']:.2f}")
    print(f"who_ratio {m['who']/m['ss']:.2f}")
finally:
    for pid, _ in kids: os.kill(pid, 9)
    for pid, _ in kids: os.waitpid(pid, 0)
EOF
