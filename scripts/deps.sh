#!/usr/bin/env bash
# Installs what BindKit needs and the machine lacks, saying so: libcap-dev (CBindShim links
# libcap) and iproute2 (used to inspect namespaces by hand; the project builds its own fixture).
set -euo pipefail
missing=()
[ -f /usr/include/sys/capability.h ] || missing+=(libcap-dev)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v setcap >/dev/null 2>&1 || [ -x /usr/sbin/setcap ] || [ -x /sbin/setcap ] || missing+=(libcap2-bin)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]} (needed to build and run BindKit)" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi
