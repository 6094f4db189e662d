#!/usr/bin/env bash
# The JDK side of the jser bench (crates/bench/src/jser_bench.rs), JDK classes only.
#
#   tests/java/run-jser-bench.sh gen DIR        writes DIR/session-1k.ser and DIR/session-100k.ser
#   tests/java/run-jser-bench.sh bench FILE...  ObjectInputStream + ObjectOutputStream MB/s per file
#
# Compiled into target/java/jser-bench/ (see lib.sh). Runs with the default (C2) JIT, not the
# quick-start options of the test harness, so the JDK is measured at full speed.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 gen DIR | bench FILE..." >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
src="$here/jser-bench"
classes="$root/target/java/jser-bench"
compile_java "$src" "$classes" "" "" "$src"/*.java
exec java -Duser.language=en -Duser.country=US -Xms256m -cp "$classes" JserBench "$@"
