#!/usr/bin/env bash
# Builds the Tomcat Manager jars (what `make java-bridge` runs):
#
#   TARGET/java-bridge/tribesd-tomcat9.jar    Tomcat 9.0 (javax)
#   TARGET/java-bridge/tribesd-tomcat10.jar   Tomcat 10.1 and 11.0 (jakarta)
#
# TARGET is $CARGO_TARGET_DIR or ./target. The release build of crates/tribes-jni is copied, without
# its debug info, to TARGET/java-bridge/native/ and packed into both jars by Maven (java-bridge/pom.xml).
# Serialised with flock, so parallel tests can call it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
out=$target/java-bridge
mkdir -p "$out/native"

build() {
  "${CARGO:-cargo}" build --release -p tribes-jni --manifest-path "$root/Cargo.toml" >&2
  local lib=$target/release/libtribes_jni.so
  [ -f "$lib" ] || { echo "error: $lib was not built" >&2; exit 1; }
  if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$out/native/libtribes_jni.so.new" "$lib"
  else
    cp "$lib" "$out/native/libtribes_jni.so.new"
  fi
  mv "$out/native/libtribes_jni.so.new" "$out/native/libtribes_jni.so"
  (cd "$root/java-bridge" && mvn -B -q -Dstyle.color=never package "-Dtribesd.native.dir=$out/native" >&2)
  cp "$root/java-bridge/tomcat9/target/tribesd-tomcat9.jar" "$root/java-bridge/tomcat10/target/tribesd-tomcat10.jar" "$out/"
}

if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.lock"
  flock 9
fi
build
echo "$out/tribesd-tomcat9.jar"
echo "$out/tribesd-tomcat10.jar"
