#!/usr/bin/env bash
# Runs the TribesWire harness (tests/java/TribesWire.java) against one stock Tomcat.
#
#   tests/java/run-tribeswire.sh TOMCAT_HOME emit|read|stream CASEFILE  < stdin
#
# Compiled against TOMCAT_HOME's catalina-tribes.jar and tomcat-juli.jar into
# target/java/VERSION/ (see lib.sh). stdin is passed through; its stdout is the harness's stdout.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 TOMCAT_HOME emit|read|stream CASEFILE" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
home=$(tomcat_home "$1")
root=$(cd "$here/../.." && pwd)
cp="$home/lib/catalina-tribes.jar:$(tomcat_juli "$home")"
classes="$root/target/java/$(tomcat_version "$home")"
compile_java "$here" "$classes" "$cp" "$home/lib/catalina-tribes.jar" "$here"/*.java
exec java "${JAVA_OPTS_TEST[@]}" -cp "$classes:$cp" TribesWire "$2" "$3"
