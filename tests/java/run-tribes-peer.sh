#!/usr/bin/env bash
# Runs the TribesPeer (tests/java/tribes-peer/TribesPeer.java): a stock Tribes GroupChannel with an
# NioReceiver on 127.0.0.1 and a PooledParallelSender, driven by commands on stdin (described in
# TribesPeer.java); Tomcat's own logging goes to stderr.
#
#   tests/java/run-tribes-peer.sh TOMCAT_HOME PORT [AUTOBIND]
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 TOMCAT_HOME PORT [AUTOBIND]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
home=$(tomcat_home "$1")
root=$(cd "$here/../.." && pwd)
src="$here/tribes-peer"
cp="$home/lib/catalina-tribes.jar:$(tomcat_juli "$home")"
classes="$root/target/java/$(tomcat_version "$home")/tribes-peer"
compile_java "$src" "$classes" "$cp" "$home/lib/catalina-tribes.jar" "$src"/*.java
exec java -Djava.net.preferIPv4Stack=true "${JAVA_OPTS_TEST[@]}" -Xmx512m -cp "$classes:$cp" TribesPeer "$2" "${3:-1}"
