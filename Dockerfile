# deployq in a container.
#
#   docker build -t deployq \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run -d --name deployq -p 8080:8080 --stop-timeout 60 \
#     -v /srv/deployq/deployq.yaml:/etc/deployq/deployq.yaml:ro \
#     -v deployq-data:/var/lib/deployq deployq
#
# The config is read from /etc/deployq/deployq.yaml and should set
# server.data_dir: /var/lib/deployq (the volume) and server.listen:
# 0.0.0.0:8080. deployq refuses to serve an open API off loopback, so a
# server reachable from outside the container needs server.api_tokens.

# The Go release of go.mod, on the same Debian release as the runtime
# image (cgo links the binary against that release's glibc).
ARG GO_VERSION=1.26
ARG DEBIAN=trixie

FROM golang:${GO_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
# cgo builds SQLite (mattn/go-sqlite3) into deployq. deployq-kubernetes
# is the kubernetes runner, with client-go: deployq starts it, from the
# directory it is in, for each deploy to Kubernetes.
ENV CGO_ENABLED=1
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/ ./cmd/deployq ./cmd/deployq-kubernetes

FROM debian:${DEBIAN}-slim
# git resolves refs and checks out; openssh-client is git's transport for
# ssh URLs; tini reaps what deploy commands leave behind (deployq is not
# an init); curl is the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl git openssh-client tini tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 deployq \
 && useradd --system --uid 10001 --gid deployq --home-dir /var/lib/deployq --shell /usr/sbin/nologin deployq \
 && mkdir -p /etc/deployq /var/lib/deployq \
 && chown deployq:deployq /var/lib/deployq \
 && chmod 0750 /var/lib/deployq
COPY --from=build /out/deployq /out/deployq-kubernetes /usr/local/bin/

# The data directory: the SQLite database, git mirrors, workspaces. It is
# also the home directory, where git and ssh look for their config
# (.gitconfig, .ssh/known_hosts).
VOLUME /var/lib/deployq
WORKDIR /var/lib/deployq
ENV HOME=/var/lib/deployq

# Numeric, so that Kubernetes can tell it is not root (runAsNonRoot).
USER 10001:10001
EXPOSE 8080
# deployq stops gracefully on SIGTERM: running deploys are ended (their
# commands get SIGTERM, then SIGKILL after kill_grace) and marked
# interrupted. Docker waits 10s by default before SIGKILL: run with
# --stop-timeout 60 (more than the longest kill_grace).
STOPSIGNAL SIGTERM
# Assumes server.listen on port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/deployq"]
CMD ["serve", "--config", "/etc/deployq/deployq.yaml"]
