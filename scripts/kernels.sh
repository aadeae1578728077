#!/usr/bin/env bash
# Runs bindcheck under Debian's cloud kernels, each booted under QEMU from an initramfs that holds
# the release bindcheck: the whole default matrix, the scenario corpus and a soak, model against
# that kernel. The model answers for the kernel it runs on: bindcheck reads the guest's uname
# (Debian's `uname -v` names the stable release, 5.10.223, that `uname -r` does not).
# Prints per kernel: release, the version the model answered for, matrix cells / agree /
# disagree, corpus steps / agree / disagree, soak scenarios / disagree. Exit status 0 when every
# guest reported and model and kernel agree everywhere, 1 otherwise.
#
# Usage: scripts/kernels.sh [VERSION...]     VERSION: 5.10 (bullseye), 6.1 (bookworm), 6.12 (trixie);
#                                            default: all three
# Environment:
#   KERNELS_RESULTS  where each kernel's reports go (default .build-kernels/results/VERSION/)
#   KERNELS_JOBS     what runs inside: matrix,corpus (the default), soak; any subset in any order
#   KERNELS_SAMPLE   run a random sample of N matrix cells instead of all (default: all)
#   KERNELS_MATRIX_FORMAT  text (the default: the counts and the disagreeing cells only) or
#                    json (matrix.json, for bindcheck diff; under TCG the JSON report's
#                    explanations and encoding cost more than the cells themselves)
#   KERNELS_SOAK     also a soak of N random scenarios per kernel (default 0: none); KERNELS_SEED
#                    its seed (default 1)
#   KERNELS_CORPUS   the scenario files to run inside: a directory or a file, in the repo or an
#                    absolute path (default Tests/Scenarios)
#   KERNELS_REACH    1: the matrix's reach cells too (default 0: the bind cells only; the reach
#                    cells have been measured on this machine's kernel, not yet under these)
#   KERNELS_TIMEOUT  seconds a guest may run before it is killed (default 1800)
#   KERNELS_ACCEL    kvm or tcg (default: kvm when /dev/kvm boots a guest, tcg otherwise)
#   KERNELS_PARALLEL guests at once (default 2); KERNELS_SMP each guest's vCPUs (default 2);
#                    KERNELS_MEMORY each guest's MiB (default 3072). On 2 cores under TCG, 2 x 2
#                    was the fastest measured (guests 600 s); 3 x 2 took 711 s, 1 x 2 about 680 s
#                    (225 s a guest), and 3 x 1 more than 620 s with no guest done.
#   KERNELS_MIRROR   the Debian archive's URI, when this host has no Debian source to read it from
#
# The packages come through a private apt configuration under .build-kernels/apt (its own sources,
# lists, cache and status) that reuses the URI of this host's Debian source with the other suites;
# the host's apt setup is only read. Downloads are kept in .build-kernels/ (git-ignored); the
# initramfs, the extracted kernels and the guests' disks live in a scratch directory removed at exit.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing this file while a
# run is under way cannot change what that run does.
{
cd "$(dirname "$0")/.."
repo=$PWD
store=$repo/.build-kernels
results=${KERNELS_RESULTS:-$store/results}
soak=${KERNELS_SOAK:-0}
tasks=matrix,corpus
[ "$soak" -eq 0 ] || tasks=$tasks,soak
tasks=${KERNELS_JOBS:-$tasks}
parallel=${KERNELS_PARALLEL:-2}
smp=${KERNELS_SMP:-2}
memory=${KERNELS_MEMORY:-3072}
seed=${KERNELS_SEED:-1}
corpus=${KERNELS_CORPUS:-Tests/Scenarios}
sample=${KERNELS_SAMPLE:-0}
matrix_format=${KERNELS_MATRIX_FORMAT:-text}
case $matrix_format in json | text) ;; *) echo "kernels: KERNELS_MATRIX_FORMAT is json or text" >&2; exit 64 ;; esac
limit=${KERNELS_TIMEOUT:-1800}

say() { echo "kernels: $*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

suite_of() {
  case $1 in
    5.10 | bullseye) echo bullseye ;;
    6.1 | bookworm) echo bookworm ;;
    6.12 | trixie) echo trixie ;;
    *) return 1 ;;
  esac
}

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(5.10 6.1 6.12)
suites=()
for v in "${versions[@]}"; do
  s=$(suite_of "$v") || die "unknown kernel $v: give 5.10, 6.1 or 6.12"
  suites+=("$s")
done
# The corpus: a path in the repo keeps its name inside the guest; one elsewhere is copied in as
# scenarios/NAME.
case $corpus in
  /*) corpus_src=$corpus corpus=scenarios/$(basename "$corpus") ;;
  *) corpus_src=$repo/$corpus ;;
esac
[ -e "$corpus_src" ] || die "no scenario corpus at $corpus_src"
[ "$(id -u)" -eq 0 ] || die "needs root (apt-get, and the guest's disk images)"

# --- What this needs and the machine lacks, installed and said, as scripts/deps.sh does.
t0=$(now)
missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (needed to boot the kernels and read their modules)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
say "phase deps: $(since "$t0") s"

t0=$(now)
swift build -c release --product bindcheck >&2
bindcheck=$repo/.build/release/bindcheck
[ -x "$bindcheck" ] || die "no $bindcheck after the build"
say "phase build: $(since "$t0") s"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/bindkit-kernels.XXXXXX")
cleanup() {
  # The guests still running (each a timeout with its qemu) are this script's own children.
  local pid
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The private apt configuration: this host's Debian URI, the suites asked for.
# The host's sources (one-line or deb822) are read for the stanza that serves this host's own
# release (its VERSION_CODENAME, not -updates or -security); its URI and Signed-By are reused.
host_source() {
  local codename
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v c="$codename" '
      $1 == "deb" {
        i = 2; key = ""
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            o = $i; gsub(/[][]/, "", o)
            if (o ~ /^signed-by=/) { sub(/^signed-by=/, "", o); key = o }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == c) { print $i, key; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: stanzas split by blank lines; a field's value may run on in indented lines.
    awk -v c="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " c " ")) {
          split(uris, u, " "); print u[1], key; found = 1; exit
        }
        types = uris = suites = key = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[A-Za-z-]+:/ {
        field = tolower($1); sub(/:$/, "", field); $1 = ""; sub(/^ +/, "")
        if (field == "types") types = $0
        else if (field == "uris") uris = $0
        else if (field == "suites") suites = $0
        else if (field == "signed-by" && $0 ~ /^\//) key = $0
        else if (field == "enabled") enabled = tolower($0)
        next
      }
      { if (field == "suites") suites = suites " " $0; else if (field == "uris") uris = uris " " $0 }
      END { if (!found) flush() }' "$f"
  done
}

t0=$(now)
read -r mirror keyring < <(host_source | head -1) || true
mirror=${KERNELS_MIRROR:-${mirror:-}}
[ -n "$mirror" ] || die "this host has no Debian source to reuse: set KERNELS_MIRROR to the archive's URI"
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
[ -f "$keyring" ] || die "no keyring $keyring to check the archive with"

apt_root=$store/apt
mkdir -p "$apt_root/sources.list.d" "$apt_root/preferences.d" "$apt_root/lists/partial" \
  "$apt_root/cache/archives/partial" "$apt_root/state" "$store/debs"
: > "$apt_root/sources.list"
[ -f "$apt_root/status" ] || : > "$apt_root/status"
mapfile -t want_suites < <(printf '%s\n' "${suites[@]}" | sort -u)
cat > "$apt_root/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: ${want_suites[*]}
Components: main
Signed-By: $keyring
EOF
# The host's update hooks (PackageKit, appstream) concern the host's lists, not these.
cat > "$apt_root/apt.conf" <<'EOF'
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
EOF
apt_opts=(
  -c "$apt_root/apt.conf"
  -o "Dir::Etc::SourceList=$apt_root/sources.list"
  -o "Dir::Etc::SourceParts=$apt_root/sources.list.d"
  -o "Dir::Etc::Preferences=$apt_root/preferences"
  -o "Dir::Etc::PreferencesParts=$apt_root/preferences.d"
  -o "Dir::State=$apt_root/state"
  -o "Dir::State::Lists=$apt_root/lists"
  -o "Dir::State::Status=$apt_root/status"
  -o "Dir::Cache=$apt_root/cache"
  -o "Dir::Cache::Archives=$apt_root/cache/archives"
  -o "APT::Architecture=amd64"
  -o "APT::Architectures=amd64"
  -o "Acquire::Languages=none"
  -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
)
say "apt: ${want_suites[*]} from this host's Debian source"
apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update of the private configuration failed"

# The version of PACKAGE in SUITE's main, from the private lists.
version_in() {
  apt-cache "${apt_opts[@]}" madison "$1" | awk -F'|' -v s=" $2/main " '
    index($3, s) { gsub(/ /, "", $2); print $2; exit }'
}
# Downloads PACKAGE=VERSION into the cache (once) and prints the file's path.
fetch_deb() {
  local file
  file=$store/debs/${1}_${2//:/%3a}_amd64.deb
  if [ ! -s "$file" ]; then
    (cd "$store/debs" && chown _apt . 2>/dev/null || true
      apt-get "${apt_opts[@]}" -qq download "$1=$2" >&2) || die "apt-get download $1=$2 failed"
  fi
  [ -s "$file" ] || die "apt-get download $1=$2 left no $file"
  echo "$file"
}

declare -A image_deb image_version
for i in "${!versions[@]}"; do
  v=${versions[$i]} s=${suites[$i]}
  meta=$(version_in linux-image-cloud-amd64 "$s")
  [ -n "$meta" ] || die "no linux-image-cloud-amd64 in $s"
  # The metapackage depends on the versioned image (linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)).
  dep=$(apt-cache "${apt_opts[@]}" show "linux-image-cloud-amd64=$meta" | sed -n 's/^Depends: //p' | head -1 |
    tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\) *(= *\([^)]*\)).*/\1 \2/p' | head -1)
  read -r pkg pkgver <<< "$dep"
  [ -n "${pkg:-}" ] || die "cannot resolve linux-image-cloud-amd64=$meta of $s to its image"
  image_deb[$v]=$(fetch_deb "$pkg" "$pkgver")
  image_version[$v]=$pkgver
  say "$v: $pkg $pkgver ($s)"
done
bb_version=$(version_in busybox-static "${suites[0]}")
[ -n "$bb_version" ] || die "no busybox-static in ${suites[0]}"
busybox_deb=$(fetch_deb busybox-static "$bb_version")
say "phase fetch: $(since "$t0") s"

# --- The initramfs: what every guest shares, then each kernel's modules as a second archive.
t0=$(now)
dpkg-deb -x "$busybox_deb" "$scratch/busybox"
# bin/busybox up to bookworm, usr/bin/busybox from trixie (merged /usr).
busybox=$scratch/busybox/bin/busybox
[ -x "$busybox" ] || busybox=$scratch/busybox/usr/bin/busybox
[ -x "$busybox" ] || die "busybox-static $bb_version has no bin/busybox nor usr/bin/busybox"

common=$scratch/common
mkdir -p "$common"/{bin,dev,proc,sys,tmp,out,modules,bindkit}
cp "$busybox" "$common/bin/busybox"
ln -s busybox "$common/bin/sh"
install -m 0755 "$repo/scripts/kernels/init" "$common/init"
cp "$bindcheck" "$common/bindkit/bindcheck"
mkdir -p "$common/bindkit/$(dirname "$corpus")"
cp -r "$corpus_src" "$common/bindkit/$corpus"
# Shared libraries at the paths the binary finds them at on this host (the Swift runtime under
# /opt/swift included); the loader too, under the name the binary asks for.
ldd "$bindcheck" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
  mkdir -p "$common$(dirname "$lib")"
  cp -L "$lib" "$common$lib"
done
(cd "$common" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$scratch/common.cpio"

# The module files of MODULE and of everything it depends on, dependencies first, into DIR.
# depends= of a module's .modinfo names them; a module built into the kernel needs no file.
add_module() {
  local moddir=$1 name=$2 dir=$3 file dep
  grep -qx "$name" "$dir/modules.order" 2>/dev/null && return 0
  file=$(find "$moddir/kernel" -regex ".*/$(echo "$name" | sed 's/[_-]/[_-]/g')\.ko\(\.xz\|\.zst\|\.gz\)?" | head -1)
  if [ -z "$file" ]; then
    grep -q "/$(echo "$name" | sed 's/[_-]/[_-]/g')\.ko$" "$moddir/modules.builtin" 2>/dev/null && return 0
    die "no module $name in $moddir"
  fi
  case $file in
    *.xz) xz -dc "$file" ;;
    *.zst) zstd -qdc "$file" ;;
    *.gz) gzip -dc "$file" ;;
    *) cat "$file" ;;
  esac > "$dir/$name.ko.tmp"
  for dep in $(tr '\0' '\n' < "$dir/$name.ko.tmp" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$moddir" "$dep" "$dir"
  done
  mv "$dir/$name.ko.tmp" "$dir/$name.ko"
  echo "$name" >> "$dir/modules.order"
}

declare -A vmlinuz initrd
for v in "${versions[@]}"; do
  x=$scratch/$v/pkg
  mkdir -p "$x"
  dpkg-deb -x "${image_deb[$v]}" "$x"
  vmlinuz[$v]=$(ls "$x"/boot/vmlinuz-* | head -1)
  release=${vmlinuz[$v]##*/vmlinuz-}
  moddir=$x/lib/modules/$release
  [ -d "$moddir" ] || moddir=$x/usr/lib/modules/$release
  [ -d "$moddir" ] || die "$v: no modules directory for $release"
  mods=$scratch/$v/root/modules
  mkdir -p "$mods"
  : > "$mods/modules.order"
  # veth for the fixture's pair; virtio_pci and virtio_blk for the disk the results come back on.
  for m in virtio_pci virtio_blk veth; do add_module "$moddir" "$m" "$mods"; done
  (cd "$scratch/$v/root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$scratch/$v/modules.cpio"
  cat "$scratch/common.cpio" "$scratch/$v/modules.cpio" > "$scratch/$v/initrd.cpio"
  initrd[$v]=$scratch/$v/initrd.cpio
  rm -rf "$x/usr/share" "$x/lib/modules" "$x/usr/lib/modules" "$scratch/$v/root"
done
say "phase initramfs: $(since "$t0") s ($(du -m "$scratch/common.cpio" | cut -f1) MB shared)"

# --- The guests. KVM when /dev/kvm boots one: some hosts have a /dev/kvm that runs only special
# guests (a PVM host, a nested setup without VMX), so a short boot with no job decides; TCG
# otherwise. Guests run side by side (KERNELS_PARALLEL): much of a guest's work is on one vCPU
# (the matrix's explanations and its JSON, the corpus), so a second guest fills the other core.
guest_args() { # V ACCEL CONSOLE DISK JOBS
  local v=$1 how=$2 console=$3 disk=$4 what=$5
  printf '%s\0' -nodefaults -no-reboot -display none -monitor none -nic none -m "$memory" -smp "$smp" \
    -serial "file:$console" -kernel "${vmlinuz[$v]}" -initrd "${initrd[$v]}" \
    -drive "file=$disk,format=raw,if=virtio,cache=unsafe" \
    -append "console=ttyS0 loglevel=5 panic=-1 mitigations=off bindkit.jobs=$what bindkit.sample=$sample bindkit.format=$matrix_format bindkit.soak=$soak bindkit.seed=$seed bindkit.corpus=$corpus bindkit.reach=${KERNELS_REACH:-0}"
  case $how in
    kvm) printf '%s\0' -accel kvm -cpu host ;;
    *) printf '%s\0' -accel tcg,thread=multi -cpu "${KERNELS_CPU:-max}" ;;
  esac
}

accel=${KERNELS_ACCEL:-}
if [ -z "$accel" ]; then
  accel=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    t0=$(now)
    v=${versions[0]}
    truncate -s 64M "$scratch/probe.img"
    mapfile -d '' args < <(guest_args "$v" kvm "$scratch/probe.log" "$scratch/probe.img" none)
    # In a subshell: a qemu that aborts (as one asked for KVM here does) is reported there, quietly.
    (timeout -k 5 10 qemu-system-x86_64 "${args[@]}" 2> "$scratch/probe.err" || true) 2> /dev/null
    if grep -q 'bindkit: done' "$scratch/probe.log" 2>/dev/null; then accel=kvm; fi
    say "phase probe: $(since "$t0") s (KVM $([ $accel = kvm ] && echo boots a guest || echo does not boot a guest here: TCG))"
  fi
fi

mkdir -p "$results"
declare -A guest_of started rcs
running=0
t_guests=$(now)
# Reads what guest V left on its disk into the results, once it has stopped.
collect() {
  local v=$1 rc=$2 out=$results/$1 disk=$scratch/$1/out.img
  [ "$rc" -ne 124 ] || say "$v: the guest ran past ${limit} s and was stopped"
  tar --no-overwrite-dir -xf "$disk" -C "$out" 2>/dev/null || true
  rm -f "$disk"
  echo "${image_version[$v]}" > "$out/package-version"
  say "$v: guest $(since "${started[$v]}") s ($accel): $(awk '/^bindkit: (booted|start|end)/ {
      t = $NF; sub(/^t=/, "", t)
      if ($2 == "start") s[$3] = t
      else if ($2 == "end") printf "%s %.1f s, ", $3, t - s[$3]
      else printf "boot %.1f s, ", t }' "$out/console.log" | sed 's/, $//')"
}
# Waits for any one guest to stop and collects it.
reap() {
  local finished= rc=0
  wait -n -p finished "${!guest_of[@]}" || rc=$?
  collect "${guest_of[$finished]}" "$rc"
  unset "guest_of[$finished]"
  running=$((running - 1))
}
for v in "${versions[@]}"; do
  while [ "$running" -ge "$parallel" ]; do reap; done
  out=$results/$v
  rm -rf "$out"
  mkdir -p "$out"
  truncate -s 4G "$scratch/$v/out.img"
  mapfile -d '' args < <(guest_args "$v" "$accel" "$out/console.log" "$scratch/$v/out.img" "$tasks")
  started[$v]=$(now)
  timeout -k 10 "$limit" qemu-system-x86_64 "${args[@]}" 2> "$out/qemu.err" &
  guest_of[$!]=$v
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done
say "phase guests: $(since "$t_guests") s"

# Counts of a corpus run (--json lines): steps, model == kernel, model != kernel, and kernel !=
# expect (the corpus's expectations are this machine's kernel's).
corpus_counts() {
  awk '
    function val(k,   m) {
      if (match($0, "[{,]\"" k "\":(null|\"([^\"\\\\]|\\\\.)*\"|\\[[^]]*\\])")) {
        m = substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 4); return m
      }
      return "null"
    }
    function member(one, list,   id) {
      if (one !~ /^\["[^",]*"\]$/ || list !~ /^\[/) return 0
      id = substr(one, 2, length(one) - 2)
      return index(list, id) > 0
    }
    /^\{/ {
      n++
      # by: equal lists, or (unicast into a SO_REUSEPORT group, SCENARIOS.md) the one receiver
      # of the kernel among the group of the model. The line does not say unicast: one receiver in the
      # list of the model is taken as agreeing (bindcheck run itself tells the two apart).
      mb = val("model_by"); kb = val("kernel_by")
      same = val("model") == val("kernel") && (mb == kb || member(kb, mb))
      if (same) a++; else d++
      e = val("expect"); if (e != "null" && e != val("kernel")) x++
    }
    END { printf "%d %d %d %d\n", n, a, d, x }' "$1"
}

summary=()
status=0
for v in "${versions[@]}"; do
  out=$results/$v
  if [ ! -f "$out/release" ]; then
    say "$v: the guest wrote no results; the end of its console:"
    tail -20 "$out/console.log" >&2 || true
    summary+=("$(printf '%-5s %-28s %-9s %s' "$v" "-" "-" "no results (see ${out#"$repo"/}/console.log)")")
    status=1
    continue
  fi
  m="-" c="-" k="-"
  if [ -f "$out/matrix.txt" ]; then
    m=$(sed -n 's/^cells \([0-9]*\), agreed \([0-9]*\), disagreed \([0-9]*\).*/\1 \2 \3/p' "$out/matrix.txt")
    m=${m:-"failed (see ${out#"$repo"/}/matrix.err)"}
    case $m in *" 0") ;; *) status=1 ;; esac
  fi
  if [ -f "$out/corpus.jsonl" ]; then
    read -r cn ca cd cx < <(corpus_counts "$out/corpus.jsonl")
    c="$cn $ca $cd ($cx kernel != expect)"
    [ "$cd" -eq 0 ] || status=1
  fi
  if [ -s "$out/soak.json" ]; then
    k=$(sed -n 's/.*"disagree":\([0-9]*\).*"scenarios":\([0-9]*\).*/\2 \1/p' "$out/soak.json")
    case $k in *" 0") ;; *) status=1 ;; esac
  fi
  # The version the model reads from uname: Debian's stable release from `uname -v`.
  mv=$(sed -n 's/.*Debian \([0-9][0-9.]*\)[-+ ].*/\1/p' "$out/version" 2>/dev/null | head -1)
  summary+=("$(printf '%-5s %-28s %-9s %-24s %-38s %s' "$v" "$(cat "$out/release")" "${mv:--}" "$m" "$c" "$k")")
done

printf '%-5s %-28s %-9s %-24s %-38s %s\n' kernel release model "matrix: cells agree differ" "corpus: steps agree differ" \
  "soak: scenarios differ"
printf '%s\n' "${summary[@]}"
echo "results in ${results#"$repo"/}/"
exit $status
}
