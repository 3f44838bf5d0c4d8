# syntax=docker/dockerfile:1
# k8s-ee: one image, one CLI (`k8s-ee webhook`, `k8s-ee sweeper`, `k8s-ee certs …`, `k8s-ee check`).
#   docker build -t ghcr.io/k8s-ee/k8s-ee:$(git rev-parse --short HEAD) .
# Runs as a numeric non-root user and writes nothing outside /tmp, so `readOnlyRootFilesystem: true` works
# (the platform chart mounts an emptyDir at /tmp and at /certs).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile TypeScript to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the build needs only typescript (the `node` devDependency would download a Node binary).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY lib ./lib
COPY policies ./policies
COPY webhooks ./webhooks
COPY sweeper ./sweeper
COPY certs ./certs
# `k8s-ee cluster` and `k8s-ee demo` live in local/ and are compiled with the CLI (see .dockerignore).
COPY local ./local
RUN npm run build

# ---- runtime: production dependencies and dist/ only ----
FROM ${NODE_IMAGE} AS runtime
# MALLOC_ARENA_MAX: two malloc arenas instead of up to 8 per core (glibc's default): under load V8's helper threads
# left ~15-30 MiB of fragmented arenas in the webhook's RSS (bench/results.md, issue 10). cli/runtime.ts says why.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /src/dist ./dist
LABEL org.opencontainers.image.title="k8s-ee" \
      org.opencontainers.image.description="Isolated, self-cleaning Kubernetes preview environments for pull requests" \
      org.opencontainers.image.source="https://github.com/k8s-ee/k8s-ee" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so runAsNonRoot can verify it; files stay owned by root and read-only to this user.
USER 10001:10001
EXPOSE 9443 8080 9090 9445
# No V8 flags here: the webhook and the sweeper need different ones (cli/runtime.ts SERVICE_NODE_FLAGS: the webhook
# tuned for admission throughput, the sweeper for memory), and each service started without its own replaces itself
# at once with a process that has them (execve: same PID; one more Node start-up, lost in the ~0.25 s a service
# takes to start, measured).
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
