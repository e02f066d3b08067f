# Image the manager and the node agent run from (one image, two subcommands).
IMG ?= ghcr.io/innkeeper-dev/innkeeper:latest

# Tools are built from Go modules pinned in hack/tools/go.mod, never downloaded as binaries.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen

# The test control plane (kube-apiserver, etcd) is built from Go modules by hack/controlplane.sh into a
# version-keyed directory outside the clone (default ~/.cache/innkeeper), shared by every clone.
CONTROLPLANE ?= $(CURDIR)/hack/controlplane.sh

GO_TEST_FLAGS ?=

# Bash, so that recipes can use pipefail.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the manager's ClusterRole from the API types and RBAC markers.
	$(CONTROLLER_GEN) rbac:roleName=innkeeper-manager crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Fail if generated files are stale, gofmt is dirty or a go.mod is untidy.
	hack/verify.sh

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver and etcd for envtest if missing; print their directory.
	@$(CONTROLPLANE) kube-apiserver etcd

.PHONY: test
test: verify vet ## Verify, then run unit tests and the envtest suite against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$($(CONTROLPLANE) kube-apiserver etcd)" go test ./... $(GO_TEST_FLAGS)

##@ Build

.PHONY: build
build: ## Build the innkeeper binary into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/innkeeper .

.PHONY: run
run: ## Run the manager against the cluster of the current kubeconfig.
	go run . manager --metrics-secure=false --metrics-bind-address=:8080 --namespace=innkeeper-system --agent-image=$(IMG)

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(lastword $(subst :, ,$(IMG))) -t $(IMG) .

##@ Tools

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: tools
tools: $(CONTROLLER_GEN) ## Build the pinned development tools into bin/.
