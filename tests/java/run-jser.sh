#!/usr/bin/env bash
# Runs the Java serialization corpus programs of tests/java/jser/ for the jser crate's tests.
#
#   tests/java/run-jser.sh jdk gen|check          JserCorpus (JDK classes only); stdin passed on
#   tests/java/run-jser.sh TOMCAT_HOME gen        JserTomcat against one stock Tomcat's jars
#
# Sources are compiled with `javac --release 17` into target/java/jser/jdk/ or
# target/java/jser/VERSION/ (VERSION = TOMCAT_HOME's name without "apache-tomcat-"), only when a
# source under tests/java/jser/ is newer than the last build. Compilation is serialised with
# flock so parallel test threads can call this script.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 jdk|TOMCAT_HOME MODE" >&2
  exit 2
fi
target=$1
mode=$2

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src="$here/jser"

if [ "$target" = jdk ]; then
  cp=""
  classes="$root/target/java/jser/jdk"
  sources=("$src"/*.java)
  main=JserCorpus
  newest_jar=""
else
  home=$(cd "$target" && pwd)
  lib="$home/lib"
  juli="$home/bin/tomcat-juli.jar"
  [ -f "$juli" ] || juli="$lib/tomcat-juli.jar"
  cp="$lib/catalina-ha.jar:$lib/catalina.jar:$lib/catalina-tribes.jar:$lib/servlet-api.jar:$lib/tomcat-util.jar:$lib/tomcat-api.jar:$lib/tomcat-coyote.jar:$juli"
  for jar in "$lib/catalina-ha.jar" "$lib/catalina.jar" "$lib/catalina-tribes.jar" "$juli"; do
    [ -f "$jar" ] || { echo "error: $jar not found" >&2; exit 2; }
  done
  version=$(basename "$home")
  version=${version#apache-tomcat-}
  classes="$root/target/java/jser/$version"
  sources=("$src"/tomcat/*.java)
  main=org.apache.catalina.ha.session.JserTomcat
  newest_jar="$lib/catalina-ha.jar"
fi
stamp="$classes/.built"
mkdir -p "$classes"

needs_build() {
  [ ! -f "$stamp" ] || [ -n "$(find "$src" -name '*.java' -newer "$stamp" -print -quit)" ] \
    || { [ -n "$newest_jar" ] && [ "$newest_jar" -nt "$stamp" ]; }
}

build() {
  if needs_build; then
    touch "$stamp.new"   # mark the start, so edits made during compilation trigger a rebuild
    javac --release 17 -nowarn -encoding UTF-8 ${cp:+-cp "$cp"} -d "$classes" "${sources[@]}" >&2
    mv "$stamp.new" "$stamp"
  fi
}

if needs_build; then
  if command -v flock >/dev/null 2>&1; then
    (
      flock 9
      build
    ) 9>"$classes/.lock"
  else
    build
  fi
fi

exec java -Duser.language=en -Duser.country=US -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -cp "$classes${cp:+:$cp}" "$main" "$mode"
