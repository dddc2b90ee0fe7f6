#!/usr/bin/env bash
# Runs pgporter the way the Dockerfile's runtime stage does, without Docker: dist/src, package.json and production
# dependencies only (npm ci --omit=dev) in a fresh directory, the image's user, environment, working directory and
# ENTRYPOINT+CMD. test/deploy-entrypoint.test.ts compares what runs with the Dockerfile, so the two cannot drift.
#
#   deploy/run-as-image.sh APP_DIR [NAME=VALUE ...]          prepare APP_DIR (empty or absent), then exec pgporter in it
#   deploy/run-as-image.sh --exec APP_DIR [NAME=VALUE ...] -- COMMAND ...
#                                                            run COMMAND (e.g. the HEALTHCHECK) as the image user in APP_DIR
#
# NAME=VALUE pairs are added to the image's environment, as fly.toml's [env] and `fly secrets` are on Fly.
# Needs root (to become the image's user, created here as in the Dockerfile if missing) and a built dist/ (npm run build).
set -euo pipefail

# --- what the Dockerfile's runtime stage says (the test checks each against the Dockerfile) ---
IMAGE_UID=10001
IMAGE_GID=10001
IMAGE_ENV=(NODE_ENV=production PGPORTER_CONFIG=/etc/pgporter/pgporter.yaml PGPORTER_HEALTHCHECK_URL=http://127.0.0.1:9187/healthz)
IMAGE_ENTRYPOINT=(node dist/src/cli.js)
IMAGE_CMD=(start)
# The base image's PATH (node:20-bookworm-slim) and the HOME Docker derives from the user's passwd entry.
BASE_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "run-as-image: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "must run as root, to switch to uid $IMAGE_UID as the image does"
command -v setpriv >/dev/null || die "setpriv (util-linux) is required"

ensure_user() {
  getent group "$IMAGE_GID" >/dev/null || groupadd --system --gid "$IMAGE_GID" pgporter
  getent passwd "$IMAGE_UID" >/dev/null ||
    useradd --system --uid "$IMAGE_UID" --gid "$IMAGE_GID" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pgporter
}

# setpriv execs in place (same PID, no PAM session), like the container runtime switching to USER before exec.
as_image_user() {
  local dir="$1"; shift
  cd "$dir"
  exec setpriv --reuid="$IMAGE_UID" --regid="$IMAGE_GID" --clear-groups --inh-caps=-all -- \
    env -i "${BASE_ENV[@]}" "${IMAGE_ENV[@]}" "${EXTRA_ENV[@]}" "$@"
}

EXTRA_ENV=()
if [ "${1:-}" = "--exec" ]; then
  [ $# -ge 2 ] || die "usage: $0 --exec APP_DIR [NAME=VALUE ...] -- COMMAND ..."
  app="$2"; shift 2
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    [[ "$1" == [A-Za-z_]*=* ]] || die "not NAME=VALUE: $1"
    EXTRA_ENV+=("$1"); shift
  done
  [ $# -ge 2 ] || die "usage: $0 --exec APP_DIR [NAME=VALUE ...] -- COMMAND ..."
  shift
  ensure_user
  as_image_user "$app" "$@"
fi

[ $# -ge 1 ] || die "usage: $0 APP_DIR [NAME=VALUE ...]"
app="$1"; shift
for kv in "$@"; do
  [[ "$kv" == [A-Za-z_]*=* ]] || die "not NAME=VALUE: $kv"
  EXTRA_ENV+=("$kv")
done
[ -f "$ROOT/dist/src/cli.js" ] || die "dist/src/cli.js missing: run npm run build first"
if [ -e "$app" ] && [ -n "$(ls -A "$app")" ]; then die "$app is not empty"; fi

# The runtime stage's files, owned by root and readable by all (COPY's defaults): the user can read but not write them.
mkdir -p "$app/dist"
cp -R "$ROOT/dist/src" "$app/dist/src"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$app/"
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2)
rm "$app/package-lock.json"   # the runtime stage copies package.json only
chmod -R a+rX,go-w "$app"

ensure_user
as_image_user "$app" "${IMAGE_ENTRYPOINT[@]}" "${IMAGE_CMD[@]}"
