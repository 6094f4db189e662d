#!/usr/bin/env bash
# Runs the TribesBench (tests/java/tribes-bench/TribesBench.java): a stock Tribes GroupChannel for
# `make bench`, driven by commands on stdin (described in TribesBench.java). Unlike the test
# harness JVMs it runs with the JVM's default JIT and GC, as a Tomcat server would.
#
#   tests/java/run-tribes-bench.sh TOMCAT_HOME PORT [AUTOBIND]
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 TOMCAT_HOME PORT [AUTOBIND]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
home=$(tomcat_home "$1")
root=$(cd "$here/../.." && pwd)
src="$here/tribes-bench"
cp="$home/lib/catalina-tribes.jar:$(tomcat_juli "$home")"
classes="$root/target/java/$(tomcat_version "$home")/tribes-bench"
compile_java "$src" "$classes" "$cp" "$home/lib/catalina-tribes.jar" "$src"/*.java
exec java -Djava.net.preferIPv4Stack=true -Duser.language=en -Duser.country=US -Xms1g -Xmx1g -cp "$classes:$cp" TribesBench "$2" "${3:-1}"
