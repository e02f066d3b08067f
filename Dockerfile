# One image for the manager and the node agent (`innkeeper manager`, `innkeeper agent`).
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# The image's own tag: the manager's default --agent-image, so the agent runs the manager's version.
ARG VERSION=latest
WORKDIR /workspace
# Dependencies first, so that a source change does not invalidate the module download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY *.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o innkeeper .

# The image `make image` builds without Docker (hack/image), file for file: the static binary and
# the nonroot user's passwd and group entries; no shell, no package manager, runs as UID 65532.
FROM scratch
COPY hack/image/rootfs/ /
COPY --from=builder /workspace/innkeeper /innkeeper
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/innkeeper"]
