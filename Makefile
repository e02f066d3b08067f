# Image the manager and the node agent run from (one image, two subcommands). VERSION is also
# compiled into the binary, as the default --agent-image's tag. It defaults to the chart's
# appVersion, so that the chart's default image is the one make image builds.
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/innkeeper/Chart.yaml)
IMG ?= ghcr.io/innkeeper-dev/innkeeper:$(VERSION)
KUBECTL ?= kubectl

# Tools are built from Go modules pinned in hack/tools/go.mod, never downloaded as binaries.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

# The test control plane (kube-apiserver, etcd) is built from Go modules by hack/controlplane.sh into a
# version-keyed directory outside the clone (default ~/.cache/innkeeper), shared by every clone.
CONTROLPLANE ?= $(CURDIR)/hack/controlplane.sh

GO_TEST_FLAGS ?=
# How much `make fuzz` (part of `make test`) fuzzes each target: an execution count (about 15 s each
# here). Not a duration: Go 1.26's fuzz coordinator can fail a clean run with "context deadline
# exceeded" when a duration ends while a worker is busy (golang/go#75804, fixed in Go 1.27); a count
# sets no deadline, so a slow or loaded CI machine only takes longer.
FUZZTIME ?= 30000x
# Flags for `make bench`, such as BENCH_FLAGS="-nodes=1000 -out=/tmp/bench.json" (go run ./test/bench -h lists them).
BENCH_FLAGS ?=

# Bash, so that recipes can use pipefail.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: version
version: ## Print the version make image and make build stamp (the chart's appVersion unless VERSION is set).
	@echo $(VERSION)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the manager's ClusterRole from the API types and RBAC markers.
	$(CONTROLLER_GEN) rbac:roleName=innkeeper-manager crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the feature-gate table (from k8s.io/kubernetes, in hack/featuregates), the API's feature-gate admission rules from it (hack/gatesapi), and DeepCopy methods for the API types.
	cd hack/featuregates && go run . -out ../../internal/render/featuregates/zz_generated_gates.go
	go run ./hack/gatesapi -out api/v1alpha1/zz_generated_featuregates.go
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet, on the end-to-end, real-node and fault suites (build tags e2e, realnode, faults) too.
	go vet -tags e2e,realnode,faults ./...

.PHONY: helm
helm: manifests ## Regenerate the chart's CRDs (charts/innkeeper/crds), the manager's RBAC template and the agents' admission policy from config/.
	go run ./hack/chartgen

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml), the end-to-end, real-node and fault suites included.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Fail if generated files (chart included) are stale, gofmt is dirty, a go.mod is untidy or golangci-lint finds anything.
	hack/verify.sh
	$(MAKE) --no-print-directory lint

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver and etcd for envtest if missing; print their directory.
	@$(CONTROLPLANE) kube-apiserver etcd

.PHONY: test
test: verify vet ## Verify, run unit tests and the envtest suite against a real kube-apiserver and etcd, the differential test, then fuzz briefly.
	assets="$$($(CONTROLPLANE) kube-apiserver etcd)"; \
	KUBEBUILDER_ASSETS="$$assets" go test ./... $(GO_TEST_FLAGS)
	$(MAKE) --no-print-directory test-differential
	$(MAKE) --no-print-directory fuzz

# How many random objects of each kind make test-differential submits, and from which seed: 3,000
# (about 30 s here). Larger runs find what this one does not (5,000 with seeds 1 and 3 found a CPU
# reservation that overflows the kubelet's arithmetic): run them with
# make test-differential DIFFERENTIAL_SEED=n DIFFERENTIAL_COUNT=m.
DIFFERENTIAL_COUNT ?= 3000
DIFFERENTIAL_SEED ?= 15

.PHONY: test-differential
test-differential: ## Submit DIFFERENTIAL_COUNT random objects of each kind to envtest's API server; check that every admitted one renders and that the kubelet's, kube-proxy's and containerd's own code take the result (hack/differential).
	assets="$$($(CONTROLPLANE) kube-apiserver etcd)"; \
	cd hack/differential && KUBEBUILDER_ASSETS="$$assets" go test -count=1 -timeout 30m -v -run '^TestDifferential$$' . \
		-args -count-per-kind=$(DIFFERENTIAL_COUNT) -seed=$(DIFFERENTIAL_SEED)

.PHONY: bench
bench: ## Run the scale benchmark (5,000 Nodes, 30 objects, envtest; about 7 minutes); writes bench-results.json.
	assets="$$($(CONTROLPLANE) kube-apiserver etcd)"; \
	KUBEBUILDER_ASSETS="$$assets" go run ./test/bench $(BENCH_FLAGS)

# Flags for `make bench-rollout`, such as ROLLOUT_BENCH_FLAGS="-nodes=100 -runs=1" (go run ./test/rolloutbench -h lists them).
ROLLOUT_BENCH_FLAGS ?=

.PHONY: bench-rollout
bench-rollout: ## Time a FloorManager's rollout against a bare DaemonSet's on the local cluster (100, 300 and 1,000 kwok Nodes, 3 runs each; about 28 minutes); writes rollout-results.json.
	assets="$$($(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS))"; \
	LOCALCLUSTER_BIN="$$assets" go run ./test/rolloutbench $(ROLLOUT_BENCH_FLAGS)

.PHONY: helm-lint
helm-lint: ## Lint and render the chart with default and non-default values; check that bad values are rejected.
	assets="$$($(CONTROLPLANE) helm)"; \
	hack/helm-lint.sh "$$(ls "$$assets"/helm-v* | head -n 1)"

.PHONY: helm-package
helm-package: ## Package the chart into bin/innkeeper-<chart version>.tgz; refused unless VERSION is its appVersion, the image tag make image builds.
	@app="$$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/innkeeper/Chart.yaml)"; \
	if [[ "$(VERSION)" != "$$app" ]]; then \
		echo "helm-package: VERSION=$(VERSION) is not the chart's appVersion $$app: the chart would default to an image this release does not build; set appVersion in charts/innkeeper/Chart.yaml" >&2; exit 1; \
	fi
	assets="$$($(CONTROLPLANE) helm)"; \
	"$$(ls "$$assets"/helm-v* | head -n 1)" package charts/innkeeper --destination $(LOCALBIN)

.PHONY: fuzz
fuzz: ## Fuzz every parser of host or user input for FUZZTIME (default 30000x: executions) each; the seed corpora run in every go test.
	go test ./internal/render/kubelet/ -run '^$$' -fuzz '^FuzzValidateDropIn$$' -fuzztime $(FUZZTIME)
	go test ./internal/render/containerd/ -run '^$$' -fuzz '^FuzzRenderRegistries$$' -fuzztime $(FUZZTIME)
	go test ./internal/render/kubeproxy/ -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME)
	go test ./internal/agent/ -run '^$$' -fuzz '^FuzzMergeCRISection$$' -fuzztime $(FUZZTIME)
	go test ./internal/agent/ -run '^$$' -fuzz '^FuzzContainerdHostChecks$$' -fuzztime $(FUZZTIME)

##@ Local cluster

# Everything the local cluster runs, and helm, which installs innkeeper's chart on it, built from Go
# modules into the same cache as the envtest binaries.
LOCALCLUSTER_COMPONENTS = kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok helm

.PHONY: localcluster-assets
localcluster-assets: ## Build the local cluster's binaries if missing (cold: about 15 minutes); print their directory.
	@$(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS)

# The tag under which test-node builds innkeeper's image and imports it into the real nodes.
REALNODE_IMAGE_TAG ?= v0.0.0-realnode

.PHONY: test-node
test-node: ## Run the real-node suite (test/realnode): innkeeper's agents on real kubelets, containerd and systemd in systemd-nspawn nodes (root; installs systemd-container and debootstrap if missing).
	rootfs="$$(hack/realnode.sh)"; \
	assets="$$($(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS) node)"; \
	$(MAKE) --no-print-directory image VERSION=$(REALNODE_IMAGE_TAG) IMAGE_ARCHIVE=$(LOCALBIN)/realnode/innkeeper-image.tar; \
	LOCALCLUSTER_BIN="$$assets" REALNODE_ROOTFS="$$rootfs" INNKEEPER_IMAGE_ARCHIVE=$(LOCALBIN)/realnode/innkeeper-image.tar \
	INNKEEPER_IMAGE_TAG=$(REALNODE_IMAGE_TAG) go test -tags realnode ./test/realnode/... -count=1 -timeout 40m $(GO_TEST_FLAGS)

.PHONY: realnode-assets
realnode-assets: ## Build a real node's binaries if missing (kubelet, kube-proxy, containerd, crictl, CNI plugins; cold: about 15 minutes); print their directory.
	@$(CONTROLPLANE) node

.PHONY: demo
demo: ## Run innkeeper on a local cluster of fake nodes with the samples until all are Ready (DEMO_WAIT=1: keep it up).
	assets="$$($(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS))"; \
	LOCALCLUSTER_BIN="$$assets" go run ./hack/demo

.PHONY: test-e2e
test-e2e: ## Run the end-to-end suite (test/e2e) on a local cluster of fake nodes.
	assets="$$($(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS))"; \
	LOCALCLUSTER_BIN="$$assets" go test -tags e2e ./test/e2e/... -count=1 -timeout 20m $(GO_TEST_FLAGS)

.PHONY: test-faults
test-faults: ## Run the fault suite (test/faults) on a local cluster of fake nodes: the leader killed, the API server stopped, innkeeper's objects changed by others; it prints the times it measures (-v: go test shows a passing package's output only then).
	assets="$$($(CONTROLPLANE) $(LOCALCLUSTER_COMPONENTS))"; \
	LOCALCLUSTER_BIN="$$assets" go test -tags faults ./test/faults/... -count=1 -timeout 20m -v $(GO_TEST_FLAGS)

##@ Build

.PHONY: build
build: ## Build the innkeeper binary into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(LOCALBIN)/innkeeper .

.PHONY: run
run: ## Run the manager against the cluster of the current kubeconfig.
	go run . manager --metrics-secure=false --metrics-bind-address=:8080 --namespace=innkeeper-system --agent-image=$(IMG)

# Where make image writes the image, and for which architecture it builds it.
IMAGE_ARCHIVE ?= $(LOCALBIN)/innkeeper-image.tar
IMAGE_ARCH ?= $(shell go env GOARCH)

.PHONY: image
image: ## Build the image IMG as the Dockerfile describes it, without Docker, into IMAGE_ARCHIVE (load it with docker load or ctr images import).
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(LOCALBIN)/image/innkeeper .
	mkdir -p "$$(dirname $(IMAGE_ARCHIVE))"
	go run ./hack/image --binary=$(LOCALBIN)/image/innkeeper --image=$(IMG) --arch=$(IMAGE_ARCH) --out=$(IMAGE_ARCHIVE)

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

##@ Deployment

# --force-conflicts: CRDs that helm install created are owned by the field manager "helm"; an
# upgrade of them takes them over.
.PHONY: install
install: ## Install or upgrade the CRDs in the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side --force-conflicts -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRDs, and with them every innkeeper object, from the cluster.
	$(KUBECTL) delete -k config/crd

.PHONY: deploy
deploy: ## Install CRDs, RBAC and the manager (image IMG, which the node agents run too) into innkeeper-system.
	$(KUBECTL) kustomize config/default | sed 's|ghcr.io/innkeeper-dev/innkeeper:latest|$(IMG)|g' | \
		$(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what deploy installed, CRDs and innkeeper objects included.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Tools

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

# golangci-lint has a module of its own: its many dependencies must not move controller-gen's.
$(GOLANGCI_LINT): hack/tools/lint/go.mod hack/tools/lint/go.sum
	cd hack/tools/lint && go build -o $(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) ## Build the pinned development tools into bin/.
