# syntax=docker/dockerfile:1
# pgporter's container image: a build stage compiles the TypeScript; the runtime stage holds dist/src, package.json and
# production dependencies only, and runs pgporter as an unprivileged user. deploy/run-as-image.sh runs the same command
# as the same user with the same environment without Docker, and test/deploy-entrypoint.test.ts keeps the two in step.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency (TypeScript), then `npm run build` (tsc); only dist/src leaves this stage ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only, installed from the lock file ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE}
# A system user with a fixed id, so USER can be numeric (Kubernetes' runAsNonRoot can check it) and file ownership is predictable.
RUN groupadd --system --gid 10001 pgporter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pgporter
WORKDIR /app
# Everything stays owned by root: pgporter only reads its code, so a compromised process cannot rewrite it.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
ENV NODE_ENV=production
ENV PGPORTER_CONFIG=/etc/pgporter/pgporter.yaml
ENV PGPORTER_HEALTHCHECK_URL=http://127.0.0.1:9187/healthz
USER 10001:10001
EXPOSE 5432 9187
# Node itself is the process: pgporter installs SIGTERM and SIGINT handlers (a bounded shutdown, src/cli/main.ts), so the
# signal reaches it even as PID 1, where the kernel applies no default action. On Fly, Fly's init is PID 1 and forwards
# kill_signal. pgporter starts no long-lived children, so no reaper (tini) is needed; `docker run --init` adds one anyway.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PGPORTER_HEALTHCHECK_URL).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
