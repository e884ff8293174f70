# syntax=docker/dockerfile:1
#
# clawchat container image: one static binary on distroless, running as uid 65532, writing only
# to /data. Build:   docker build -t clawchat:local --build-arg VERSION=$(git describe --tags --always) .
# The embedded web app is committed in internal/web/dist; to rebuild it from web/ inside the
# build, add --build-arg WEB=rebuild (needs npm registry access).
# Nothing here was built on the machine this file was written on (no Docker engine there); the
# Go build step is exactly `make build`.

ARG GO_VERSION=1.26.8
ARG WEB=prebuilt

# --- web app: the committed build (default) -------------------------------------------------
FROM scratch AS web-prebuilt
COPY internal/web/dist /dist

# --- web app: rebuilt from source (--build-arg WEB=rebuild) ----------------------------------
FROM --platform=$BUILDPLATFORM node:24-bookworm-slim AS web-rebuild
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN mkdir -p ../internal/web && node build.mjs && cp -r ../internal/web/dist /dist

FROM web-${WEB} AS web

# --- Go build: the same command as `make build`, cross-compiled for the target platform ------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN rm -rf internal/web/dist
COPY --from=web /dist internal/web/dist
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/clawchat/clawchat/internal/version.Version=${VERSION}" \
      -o /out/clawchat ./cmd/clawchat
# An empty /data owned by the runtime user: a fresh named volume copies this ownership.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

# --- runtime -------------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="clawchat" \
      org.opencontainers.image.description="Multi-user web chat in front of an OpenClaw Gateway" \
      org.opencontainers.image.source="https://github.com/clawchat/clawchat" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/clawchat /clawchat
COPY --from=build --chown=65532:65532 /out/data /data
# Only /data is written (SQLite, device identity, device token). The root filesystem may be
# mounted read-only; give /tmp a tmpfs if anything should need it.
ENV CLAWCHAT_DATA_DIR=/data \
    CLAWCHAT_LISTEN=:8080 \
    CLAWCHAT_LOG_FORMAT=json
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# Asks the local /healthz; Kubernetes ignores this and uses its own probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/clawchat", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/clawchat"]
CMD ["serve"]
