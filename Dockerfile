# The converge controller image that manifests/daemonset.yaml runs.
#   docker build -t REGISTRY/converge:0.1.0 . && docker push REGISTRY/converge:0.1.0
#
# Two stages: the build stage compiles TypeScript with the dev dependencies; the runtime
# stage has Node (current LTS, slim Debian) and the production dependencies only, not the
# compiler, the tests or the npm cache.
#
# The image runs as the unprivileged `node` user by default, which is enough for
# `converge validate`, `plan` against a remote socket, or `crd`. Talking to the host's
# containerd socket needs root on most nodes (the socket is root:root 0660), so the
# DaemonSet sets runAsUser: 0 — with every capability dropped, no privilege escalation and
# a read-only root file system; see the comment at the top of manifests/daemonset.yaml.

ARG NODE_IMAGE=node:24-bookworm-slim
# Keep equal to package.json's version (test/unit/packaging.test.ts checks); the image's
# `converge version` reads package.json itself.
ARG VERSION=0.1.0
# Where the image's source lives (the DaemonSet pulls ghcr.io/converge-dev/converge).
ARG SOURCE=https://github.com/converge-dev/converge
ARG GO_IMAGE=golang:1.24-bookworm

# The task log driver (logger/, Go, standard library only): a static binary.
FROM ${GO_IMAGE} AS logger
WORKDIR /src/logger
COPY logger/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/converge-logger .

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
COPY proto ./proto
# Only the product: a tsconfig that leaves out test/ and bench/.
RUN printf '{"extends":"./tsconfig.json","include":["src/**/*.ts"]}' > tsconfig.build.json \
 && npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM ${NODE_IMAGE}
ARG VERSION
ARG SOURCE
LABEL org.opencontainers.image.title="converge" \
      org.opencontainers.image.description="Keeps the containers of a machine equal to declarative specs, over containerd's gRPC API" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# tini as PID 1: it reaps the zombies git, gpg and mount leave (Node does not wait for
# processes it did not spawn) and forwards SIGTERM/SIGHUP to converge, so stopping and
# reloading work without `docker run --init`. git and gpg: the --git source and
# --git-verify-commits run them. mount/umount (to resolve a user name from an image,
# src/containerd/user.ts) come with the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git gpg gpgv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/schemas ./schemas
COPY --from=build /src/proto ./proto
# Where `converge run` looks for it by default; run copies it into the state dir (a host
# path) for containerd's shims to start.
COPY --from=logger /out/converge-logger ./.tools/converge-logger/converge-logger
USER node
# --max-semi-space-size: see "Memory" in the README (V8 sizes its young generation from the
# host's memory, and converge's gRPC garbage would fill it).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "/app/dist/src/cli/main.js"]
CMD ["run", "--kube"]
