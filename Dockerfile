# syntax=docker/dockerfile:1
#
# labsync as a container image: one static binary on distroless, run as a
# non-root uid, fit for a read-only root filesystem. Build it with
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t labsync .
#
# and run it with the data directory on a volume and /tmp on a tmpfs:
#
#   docker run --read-only --tmpfs /tmp -v labsync-data:/var/lib/labsync \
#     -e LABSYNC_KEK -e LABSYNC_PUBLIC_URL=https://labsync.example.com -p 8787:8787 labsync
#
# There is no HEALTHCHECK: the image has no shell or HTTP client to run one;
# orchestrators probe GET /healthz and GET /readyz on port 8787 instead.
# docs/operations.md says more; deploy/dockerfile_test.go checks this file.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
# The SQLite driver is pure Go (modernc.org/sqlite): no cgo, no libc.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/labsync/labsync/internal/buildinfo.Version=${VERSION} -X github.com/labsync/labsync/internal/buildinfo.Commit=${COMMIT}" \
      -o /out/labsync ./cmd/labsync \
 && mkdir -p /out/data

# distroless/static: CA certificates, tzdata and /etc/passwd with the
# nonroot user (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/labsync /usr/local/bin/labsync
# The data directory, owned by the runtime user so a fresh named volume
# mounted here is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/labsync
ENV LABSYNC_ADDR=0.0.0.0:8787 \
    LABSYNC_DATA_DIR=/var/lib/labsync \
    LABSYNC_LOG_FORMAT=json \
    TMPDIR=/tmp
USER 65532:65532
EXPOSE 8787
VOLUME ["/var/lib/labsync"]
ENTRYPOINT ["/usr/local/bin/labsync"]
CMD ["serve"]
