#!/usr/bin/env bash
# Assembles the runtime root file system of the pgAnalytics container image into <dir>, from the
# built binary (dist/pganalytics) and this Debian machine: the binary, the PostgreSQL client tools
# of the backup work with every shared library they load, CA certificates, a passwd/group with the
# non-root user pganalytics (10001:10001), the mount points a read-only container needs, and a
# manifest of every entry with its SHA-256 (/usr/share/pganalytics/rootfs.manifest).
# The Dockerfile's build stage runs this same script; test/deploy/container.test.ts runs it here
# and starts the binary from the result as uid 10001 on a read-only root.
#
# Usage: container/make-rootfs.sh <dir>     (<dir> must be missing or empty; run as root so the
#                                            ownership is the image's)
# Environment: PGA_ROOTFS_BINARY  the binary (default: <repo>/dist/pganalytics)
#              PGA_ROOTFS_PG_BIN  PostgreSQL bin directory (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

usage() { echo "usage: $0 <dir>" >&2; exit 2; }
[ $# -eq 1 ] || usage
repo=$(cd "$(dirname "$0")/.." && pwd)
binary=${PGA_ROOTFS_BINARY:-$repo/dist/pganalytics}
pg_bin=${PGA_ROOTFS_PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
# The real ELF programs, not Debian's perl wrappers in /usr/bin (no perl in the image).
pg_tools=(pg_basebackup pg_receivewal pg_dump pg_restore pg_dumpall psql pg_verifybackup pg_waldump pg_controldata)
app_uid=10001
app_gid=10001
manifest_path=/usr/share/pganalytics/rootfs.manifest

die() { echo "make-rootfs: $*" >&2; exit 1; }
[ -x "$binary" ] || die "no binary at $binary (run: bash scripts/build.sh)"
[ -n "$pg_bin" ] && [ -d "$pg_bin" ] || die "no PostgreSQL under /usr/lib/postgresql (Debian: postgresql-client-15 and postgresql-15 for pg_waldump)"
for tool in "${pg_tools[@]}"; do [ -x "$pg_bin/$tool" ] || die "missing $pg_bin/$tool"; done
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "missing /etc/ssl/certs/ca-certificates.crt (Debian: ca-certificates)"
mkdir -p "$1"
out=$(cd "$1" && pwd)
[ "$out" != / ] || die "refusing to build into /"
[ -z "$(ls -A "$out")" ] || die "$out is not empty"

# Same merged-/usr layout as Debian, so the paths compiled into the programs (the ELF interpreter
# /lib64/ld-linux-x86-64.so.2) and the loader's default search directories hold.
install -d -m 0755 "$out/usr/bin" "$out/usr/sbin" "$out/usr/lib" "$out/usr/lib64" "$out/usr/local/bin" \
  "$out/etc/ssl/certs" "$out/usr/share/pganalytics"
for link in bin sbin lib lib64; do ln -s "usr/$link" "$out/$link"; done

# Copies a path of this machine into the root at its canonical directory, reproducing the
# symbolic links on the way (libpq.so.5 -> libpq.so.5.15) and then what they point to.
add_path() {
  local path=$1 dir target
  dir=$(readlink -f "$(dirname "$path")")
  path=$dir/$(basename "$path")
  if [ -e "$out$path" ] || [ -L "$out$path" ]; then return 0; fi
  install -d -m 0755 "$out$dir"
  if [ -L "$path" ]; then
    target=$(readlink "$path")
    ln -s "$target" "$out$path"
    case $target in
      /*) add_path "$target" ;;
      *) add_path "$dir/$target" ;;
    esac
  elif [ -f "$path" ]; then
    cp --preserve=mode "$path" "$out$path"
  else
    die "not a file: $path"
  fi
}

# Every shared library a program loads, as ldd resolves it (transitively), with the loader.
add_libraries() {
  local lib
  ldd "$1" >/dev/null 2>&1 || die "ldd cannot read $1"
  if ldd "$1" | grep -q 'not found'; then die "unresolved libraries of $1: $(ldd "$1" | grep 'not found')"; fi
  while read -r lib; do add_path "$lib"; done < <(
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u
  )
}

# The service. Never strip it: the app is embedded in the executable.
install -m 0755 "$binary" "$out/usr/local/bin/pganalytics"
add_libraries "$binary"

# PostgreSQL client tools for backups, under their own directory (pg_dumpall finds pg_dump beside
# itself), linked into /usr/local/bin.
for tool in "${pg_tools[@]}"; do
  add_path "$pg_bin/$tool"
  add_libraries "$pg_bin/$tool"
  ln -s "$(readlink -f "$pg_bin")/$tool" "$out/usr/local/bin/$tool"
done

# Name service: glibc >= 2.34 has the files and dns back ends built into libc.so.6, so no
# libnss_*.so is loaded for these sources; nsswitch.conf names nothing else.
cat > "$out/etc/nsswitch.conf" <<'CONF'
# pgAnalytics image: users and hosts from files, then DNS (all built into glibc).
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
CONF
cat > "$out/etc/hosts" <<'CONF'
# Replaced by the container runtime (Docker, Kubernetes) at start; used as is elsewhere.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
CONF
cat > "$out/etc/resolv.conf" <<'CONF'
# Replaced by the container runtime (Docker, Kubernetes) at start.
CONF
# Only root and the service user; the user's home is its data directory (libpq's ~/.pgpass).
cat > "$out/etc/passwd" <<CONF
root:x:0:0:root:/root:/usr/sbin/nologin
pganalytics:x:$app_uid:$app_gid:pgAnalytics:/var/lib/pganalytics:/usr/sbin/nologin
CONF
cat > "$out/etc/group" <<CONF
root:x:0:
pganalytics:x:$app_gid:
CONF
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$out"/etc/nsswitch.conf "$out"/etc/hosts "$out"/etc/resolv.conf "$out"/etc/passwd \
  "$out"/etc/group "$out"/etc/ssl/certs/ca-certificates.crt

# Mount points: the runtime mounts proc, dev and sys; with a read-only root, /tmp (PGlite unpacks
# its extensions there) and the data directory must be writable mounts (tmpfs or volumes).
install -d -m 0755 "$out/proc" "$out/dev" "$out/sys"
install -d -m 1777 "$out/tmp"
install -d -m 0700 "$out/var/lib/pganalytics"
if [ "$(id -u)" -eq 0 ]; then
  chown -hR 0:0 "$out"
  chown "$app_uid:$app_gid" "$out/var/lib/pganalytics"
else
  echo "make-rootfs: not root: files keep uid $(id -u) and /var/lib/pganalytics is not owned by $app_uid" >&2
fi

# The manifest: one line per entry, sorted by path, so the image's content can be reviewed and
# checked (test/deploy/container.test.ts recomputes it). The manifest lists itself without a hash.
manifest=$out$manifest_path
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
touch "$manifest"
chmod 0644 "$manifest"
{
  echo "# pgAnalytics runtime root file system, made by container/make-rootfs.sh"
  echo "# binary: $(sha256sum < "$binary" | cut -d' ' -f1)  postgresql: $("$pg_bin/psql" --version)"
  printf '# type\tmode\tuid:gid\tsize\tsha256\tpath\tlink target\n'
  while IFS=$'\t' read -r -d '' type mode owner size path target; do
    hash=-
    if [ "$type" != f ]; then size=-; elif [ "$path" != "$manifest_path" ]; then
      hash=$(sha256sum < "$out$path" | cut -d' ' -f1)
    else size=-; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$type" "$mode" "$owner" "$size" "$hash" "$path" "$target"
  done < <(cd "$out" && find . -mindepth 1 -printf '%y\t%m\t%U:%G\t%s\t/%P\t%l\0' | LC_ALL=C sort -z -t $'\t' -k5,5)
} > "$listing"
cat "$listing" > "$manifest"
echo "make-rootfs: $out: $(grep -c -v '^#' "$manifest") entries, $(du -sh "$out" | cut -f1)" >&2
