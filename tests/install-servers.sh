#!/usr/bin/env bash
# Installs the real servers the integration tests run against (Debian's Prosody and Redis).
# Tests start their own instances on loopback; this only makes sure the binaries are there.
set -euo pipefail
need=()
command -v prosody >/dev/null 2>&1 || need+=(prosody)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-servers: missing ${need[*]}; run as root on Debian, or install them yourself." >&2
    # Outside CI the tests that need them skip with a message; in CI they fail.
    [ "${CI:-}" = "true" ] && exit 1
    exit 0
fi
echo "install-servers: installing ${need[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" lua-event >/dev/null; }; then
    echo "install-servers: apt-get could not install ${need[*]}" >&2
    exit 1
fi
# The packages start system-wide services; the tests use their own instances, so stop those.
for svc in prosody redis-server; do
    (service "$svc" stop >/dev/null 2>&1 || true)
done
