# Shared by the tests/java/run-*.sh scripts (sourced, not run).

# tomcat_home DIR: prints DIR's absolute path and checks it is an unpacked Tomcat.
tomcat_home() {
  local home
  home=$(cd "$1" && pwd)
  [ -f "$home/lib/catalina-tribes.jar" ] || { echo "error: $home/lib/catalina-tribes.jar not found" >&2; exit 2; }
  echo "$home"
}

# tomcat_version HOME: 10.1.59 for .../apache-tomcat-10.1.59.
tomcat_version() {
  local v
  v=$(basename "$1")
  echo "${v#apache-tomcat-}"
}

# tomcat_juli HOME: the juli jar (bin/ in a distribution, lib/ in some packagings).
tomcat_juli() {
  if [ -f "$1/bin/tomcat-juli.jar" ]; then echo "$1/bin/tomcat-juli.jar"; else echo "$1/lib/tomcat-juli.jar"; fi
}

# compile_java SRC_DIR CLASSES CLASSPATH NEWEST_JAR SOURCES...: compiles SOURCES with
# `javac --release 17` into CLASSES when a .java file directly in SRC_DIR (or NEWEST_JAR) is newer
# than the last build. Serialised with flock, so parallel test threads can call it.
compile_java() {
  local src=$1 classes=$2 cp=$3 newest_jar=$4
  shift 4
  local stamp="$classes/.built"
  mkdir -p "$classes"
  _needs_build() {
    [ ! -f "$stamp" ] || [ -n "$(find "$src" -maxdepth 1 -name '*.java' -newer "$stamp" -print -quit)" ] \
      || { [ -n "$newest_jar" ] && [ "$newest_jar" -nt "$stamp" ]; }
  }
  _build() {
    if _needs_build; then
      touch "$stamp.new" # mark the start, so edits made during compilation trigger a rebuild
      javac --release 17 -nowarn -encoding UTF-8 ${cp:+-cp "$cp"} -d "$classes" "$@" >&2
      mv "$stamp.new" "$stamp"
    fi
  }
  if _needs_build; then
    if command -v flock >/dev/null 2>&1; then
      ( flock 9; _build "$@" ) 9>"$classes/.lock"
    else
      _build "$@"
    fi
  fi
}

# Options every harness JVM runs with: stable English messages, a quick start.
JAVA_OPTS_TEST=(-Duser.language=en -Duser.country=US -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
