#!/usr/bin/env bash
# Runs tests/java/session/SessionCodecs.java against one stock Tomcat's jars, for
# crates/tribes-proto/tests/session_codecs.rs.
#
#   tests/java/run-session.sh TOMCAT_HOME gen      Tomcat's bytes and their fields, "NAME<TAB>HEX<TAB>FIELDS"
#   tests/java/run-session.sh TOMCAT_HOME check    reads "NAME<TAB>KIND<TAB>HEX" lines from stdin,
#                                                  prints "NAME<TAB>FIELDS" as Tomcat reads them
#
# Compiled into target/java/session/VERSION/ (see lib.sh).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 TOMCAT_HOME gen|check" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
home=$(tomcat_home "$1")
lib="$home/lib"
cp="$(ls "$lib"/*.jar | tr '\n' ':')$(tomcat_juli "$home")"
classes="$root/target/java/session/$(tomcat_version "$home")"
compile_java "$here/session" "$classes" "$cp" "$lib/catalina-ha.jar" "$here"/session/*.java
exec java "${JAVA_OPTS_TEST[@]}" -cp "$classes:$cp" org.apache.catalina.ha.session.SessionCodecs "$2"
