#!/usr/bin/env bash
# Runs the TribesWire harness (tests/java/TribesWire.java) against one stock Tomcat.
#
#   tests/java/run-tribeswire.sh TOMCAT_HOME emit|read|stream CASEFILE  < stdin
#
# TOMCAT_HOME is an unpacked distribution such as .cache/tomcat/apache-tomcat-10.1.59
# (needs lib/catalina-tribes.jar and bin/ or lib/tomcat-juli.jar). The harness is compiled
# with `javac --release 17` into target/java/VERSION/ (VERSION = TOMCAT_HOME's name without
# "apache-tomcat-"), only when a source under tests/java/ is newer than the last build.
# Compilation is serialised with flock so parallel test threads can call this script.
# stdin is passed through to the harness; its stdout is the harness's stdout.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 TOMCAT_HOME emit|read|stream CASEFILE" >&2
  exit 2
fi
home=$(cd "$1" && pwd)
mode=$2
casefile=$3

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

tribes="$home/lib/catalina-tribes.jar"
juli="$home/bin/tomcat-juli.jar"
[ -f "$juli" ] || juli="$home/lib/tomcat-juli.jar"
for jar in "$tribes" "$juli"; do
  [ -f "$jar" ] || { echo "error: $jar not found" >&2; exit 2; }
done
cp="$tribes:$juli"

version=$(basename "$home")
version=${version#apache-tomcat-}
classes="$root/target/java/$version"
stamp="$classes/.built"
mkdir -p "$classes"

needs_build() {
  [ ! -f "$stamp" ] || [ -n "$(find "$here" -name '*.java' -newer "$stamp" -print -quit)" ] \
    || [ "$tribes" -nt "$stamp" ]
}

build() {
  if needs_build; then
    touch "$stamp.new"   # mark the start, so edits made during compilation trigger a rebuild
    javac --release 17 -nowarn -encoding UTF-8 -cp "$cp" -d "$classes" "$here"/*.java >&2
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
  -cp "$classes:$cp" TribesWire "$mode" "$casefile"
