#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to, when missing: PostgreSQL, Redis,
# promtool (prometheus), openssl, Chromium (renders /docs in a real browser), HAProxy and nginx
# (the balancers of the failover tests), curl, OpenLDAP (slapd and ldap-utils: the directory the
# LDAP sign-in tests start), a Java runtime (openapi-generator, for the generated Go client), and
# pg_wait_sampling for the server's PostgreSQL version (the session_samples tests). Uses sudo when
# not root. Does nothing when all are present.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/sbin/slapd ] || command -v slapd >/dev/null 2>&1 || missing+=(slapd)
command -v ldapmodify >/dev/null 2>&1 || missing+=(ldap-utils)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Package scripts must not start system services (we start our own on random ports).
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The extension package is named after the server's major version, known once it is installed.
pg_major=$(ls /usr/lib/postgresql | sort -n | tail -1)
if [ ! -f "/usr/lib/postgresql/$pg_major/lib/pg_wait_sampling.so" ]; then
  echo "installing Debian packages: postgresql-$pg_major-pg-wait-sampling" >&2
  $sudo apt-get install -y -qq --no-install-recommends "postgresql-$pg_major-pg-wait-sampling" >&2 || {
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "postgresql-$pg_major-pg-wait-sampling" >&2
  }
fi
