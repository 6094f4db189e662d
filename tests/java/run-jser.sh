#!/usr/bin/env bash
# Runs the Java serialization corpus programs of tests/java/jser/ for the jser crate's tests.
#
#   tests/java/run-jser.sh jdk gen|check          JserCorpus (JDK classes only); stdin passed on
#   tests/java/run-jser.sh TOMCAT_HOME gen        JserTomcat against one stock Tomcat's jars
#
# Compiled into target/java/jser/jdk/ or target/java/jser/VERSION/ (see lib.sh).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 jdk|TOMCAT_HOME MODE" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
src="$here/jser"
if [ "$1" = jdk ]; then
  cp=""
  classes="$root/target/java/jser/jdk"
  compile_java "$src" "$classes" "" "" "$src"/*.java
  main=JserCorpus
else
  home=$(tomcat_home "$1")
  lib="$home/lib"
  cp="$(ls "$lib"/*.jar | tr '\n' ':')$(tomcat_juli "$home")"
  classes="$root/target/java/jser/$(tomcat_version "$home")"
  compile_java "$src/tomcat" "$classes" "$cp" "$lib/catalina-ha.jar" "$src"/tomcat/*.java
  main=org.apache.catalina.ha.session.JserTomcat
fi
exec java "${JAVA_OPTS_TEST[@]}" -cp "$classes${cp:+:$cp}" "$main" "$2"
