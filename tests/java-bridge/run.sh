#!/usr/bin/env bash
# Runs BridgeSmoke (tests/java-bridge/BridgeSmoke.java) with a bridge jar on a stock Tomcat's
# classpath (its lib/*.jar and bin/tomcat-juli.jar), as Tomcat would see the jar in $CATALINA_HOME/lib.
#
#   tests/java-bridge/run.sh TOMCAT_HOME BRIDGE_JAR [JVM_OPTION...] -- ARGS...
#
# Compiled against that Tomcat and the jar into target/java-bridge/smoke/VERSION/ (javac --release 17;
# the program touches no servlet API, so one source serves javax and jakarta lines).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 TOMCAT_HOME BRIDGE_JAR [JVM_OPTION...] -- ARGS..." >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/tests/java/lib.sh"
home=$(tomcat_home "$1")
jar=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
jvm=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do jvm+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
cp="$jar:$home/lib/*:$(tomcat_juli "$home")"
classes="${CARGO_TARGET_DIR:-$root/target}/java-bridge/smoke/$(tomcat_version "$home")-$(basename "$jar" .jar)"
compile_java "$here" "$classes" "$cp" "$jar" "$here/BridgeSmoke.java"
exec java "${JAVA_OPTS_TEST[@]}" "${jvm[@]}" -cp "$classes:$cp" BridgeSmoke "$@"
