#!/usr/bin/env bash
# Everything `make test` and `make demo` need on a fresh machine: a JDK and Maven (from Debian's
# packages when missing and we are root), the Rust toolchain (it must already be there, or come
# from Debian's packages), and the pinned stock Tomcat releases (through Maven).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v cargo >/dev/null 2>&1 || need_apt+=(cargo rustc)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "error: missing ${need_apt[*]}: run 'sudo apt-get install ${need_apt[*]}' (or run make as root)" >&2
    exit 1
  fi
fi

"$root/scripts/fetch-tomcat.sh"
