#!/usr/bin/env bash
# Downloads every Tomcat release pinned in tests/tomcat-versions from Maven Central (through Maven)
# into .cache/tomcat/apache-tomcat-VERSION. A release already unpacked is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/tomcat"
mkdir -p "$cache"
grep -Ev '^\s*(#|$)' "$root/tests/tomcat-versions" | while read -r version; do
  home="$cache/apache-tomcat-$version"
  if [ -f "$home/lib/catalina-tribes.jar" ]; then
    continue
  fi
  echo "fetching Tomcat $version from Maven Central" >&2
  tmp=$(mktemp -d)
  mvn -q -B dependency:copy "-Dartifact=org.apache.tomcat:tomcat:$version:tar.gz" "-DoutputDirectory=$tmp" >&2 \
    || { echo "error: Maven could not fetch org.apache.tomcat:tomcat:$version:tar.gz" >&2; exit 1; }
  tar xzf "$tmp/tomcat-$version.tar.gz" -C "$cache"
  rm -rf "$tmp"
  [ -f "$home/lib/catalina-tribes.jar" ] || { echo "error: $home/lib/catalina-tribes.jar missing after unpacking" >&2; exit 1; }
done
