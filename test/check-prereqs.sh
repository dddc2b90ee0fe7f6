#!/usr/bin/env bash
# Runs before `npm test`: says plainly which real parts the tests need and are missing, instead of failing obscurely later.
missing=()
for bin in haproxy redis-server psql pgbench openssl python3 ss; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=("postgresql server (initdb)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "The tests run against real processes; missing: ${missing[*]}" >&2
  echo "On Debian: apt-get install -y haproxy redis-server postgresql postgresql-client pgbouncer openssl  (or run: bash .ci/run)" >&2
  exit 1
fi
