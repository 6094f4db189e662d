#!/usr/bin/env bash
# Runs the TribesPeer (tests/java/tribes-peer/TribesPeer.java): a stock Tribes GroupChannel with an
# NioReceiver on 127.0.0.1 and a PooledParallelSender, driven by commands on stdin.
#
#   tests/java/run-tribes-peer.sh TOMCAT_HOME PORT [AUTOBIND]
#
# TOMCAT_HOME is an unpacked distribution such as .cache/tomcat/apache-tomcat-10.1.59 (needs
# lib/catalina-tribes.jar and bin/ or lib/tomcat-juli.jar). The peer is compiled with
# `javac --release 17` into target/java/VERSION/tribes-peer/ only when a source under
# tests/java/tribes-peer/ is newer than the last build; compilation is serialised with flock so
# parallel tests can call this script. The commands and answers are described in TribesPeer.java;
# Tomcat's own logging goes to stderr.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 TOMCAT_HOME PORT [AUTOBIND]" >&2
  exit 2
fi
home=$(cd "$1" && pwd)
port=$2
autobind=${3:-1}

here=$(cd "$(dirname "$0")" && pwd)
src="$here/tribes-peer"
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
classes="$root/target/java/$version/tribes-peer"
stamp="$classes/.built"
mkdir -p "$classes"

needs_build() {
  [ ! -f "$stamp" ] || [ -n "$(find "$src" -name '*.java' -newer "$stamp" -print -quit)" ] \
    || [ "$tribes" -nt "$stamp" ]
}

build() {
  if needs_build; then
    touch "$stamp.new"   # mark the start, so edits made during compilation trigger a rebuild
    javac --release 17 -nowarn -encoding UTF-8 -cp "$cp" -d "$classes" "$src"/*.java >&2
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

exec java -Djava.net.preferIPv4Stack=true -Duser.language=en -Duser.country=US -XX:+UseSerialGC \
  -XX:TieredStopAtLevel=1 -Xmx512m -cp "$classes:$cp" TribesPeer "$port" "$autobind"
