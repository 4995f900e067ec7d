#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to, when missing: PostgreSQL, Redis,
# promtool (prometheus), openssl, Chromium (renders /docs in a real browser), HAProxy and nginx
# (the balancers of the failover tests), curl, OpenLDAP (slapd and ldap-utils: the directory the
# LDAP sign-in tests start), a Java runtime (openapi-generator, for the generated Go client). Uses
# sudo when not root. Does nothing when all are present.
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
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Package scripts must not start system services (we start our own on random ports).
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
