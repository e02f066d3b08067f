#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries from Go modules (no download beyond the Go module proxy)
# into a cache directory outside the clone, keyed by version, so every clone on a machine shares them.
# Builds only what is missing, then prints the directory (point KUBEBUILDER_ASSETS at it).
#
#   hack/controlplane.sh                 # kube-apiserver and etcd: what envtest needs
#   hack/controlplane.sh kubectl ...     # any of: kube-apiserver etcd kube-controller-manager kube-scheduler kubectl kwok helm
#   hack/controlplane.sh node            # a real node's binaries (test/realnode): kubelet, kube-proxy,
#                                        # containerd, ctr, containerd-shim-runc-v2, crictl, CNI plugins
#
# kwok and helm are versioned apart from Kubernetes: they are cached as kwok-<version> and
# helm-<version> in the same directory; containerd, cri-tools and the CNI plugins in directories
# containerd-<version>/, cri-tools-<version>/ and cni-plugins-<version>/, under their own names.
#
# Environment:
#   INNKEEPER_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/innkeeper)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Versions are read from the wrapper modules so that go.mod stays the single source of truth.
k8s_version=$(cd "$here/controlplane/kubernetes" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(cd "$here/controlplane/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
kwok_version=$(cd "$here/controlplane/kwok" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)
helm_version=$(cd "$here/controlplane/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
containerd_version=$(cd "$here/controlplane/containerd" && go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
critools_version=$(cd "$here/controlplane/critools" && go list -m -f '{{.Version}}' sigs.k8s.io/cri-tools)
cni_version=$(cd "$here/controlplane/cni" && go list -m -f '{{.Version}}' github.com/containernetworking/plugins)
for v in "$k8s_version" "$etcd_version" "$kwok_version" "$helm_version" "$containerd_version" "$critools_version" "$cni_version"; do
	[[ -n "$v" ]] || { echo "controlplane.sh: cannot read versions from hack/controlplane/*/go.mod" >&2; exit 1; }
done

goos=$(go env GOOS)
goarch=$(go env GOARCH)
cache_root=${INNKEEPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/innkeeper}
dir="$cache_root/controlplane/k8s-${k8s_version}-etcd-${etcd_version}-${goos}-${goarch}"
mkdir -p "$dir"

# What a real node runs: the kubelet and kube-proxy of the control plane's version, containerd
# with its shim and ctr, crictl, and the CNI plugins a node's pods need (tap, host-local, loopback).
node_components=(kubelet kube-proxy containerd ctr containerd-shim-runc-v2 crictl cni-tap cni-host-local cni-loopback)

components=()
for c in "$@"; do
	if [[ $c == node ]]; then
		components+=("${node_components[@]}")
	else
		components+=("$c")
	fi
done
[[ ${#components[@]} -gt 0 ]] || components=(kube-apiserver etcd)

# One builder at a time per directory: two `make test` runs must not race on the same binary.
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi

k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
	k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# kwok needs Stage objects to play the kubelet: its module ships them. Keep the fast node and pod
# lifecycles and the node heartbeat, next to the binary.
install_kwok_stages() {
	local src stages tmp
	src=$(cd "$here/controlplane/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
	stages="$dir/kwok-$kwok_version-stages"
	tmp=$(mktemp -d "$dir/.stages.XXXXXX")
	cp "$src"/node/fast/node-*.yaml "$src"/node/heartbeat-with-lease/node-*.yaml "$src"/pod/fast/pod-*.yaml "$tmp"/
	rm -rf "$stages"
	mv "$tmp" "$stages"
}

build() {
	local name=$1 module pkg ldflags tags=""
	case "$name" in
	kwok)
		module="$here/controlplane/kwok" pkg="sigs.k8s.io/kwok/cmd/kwok" ldflags="-s -w" name="kwok-$kwok_version" ;;
	kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy)
		module="$here/controlplane/kubernetes" pkg="k8s.io/kubernetes/cmd/$name" ldflags=$k8s_ldflags ;;
	etcd)
		module="$here/controlplane/etcd" pkg="." ldflags="-s -w" ;;
	helm)
		# As helm's own Makefile stamps a release: its version, and the Kubernetes version that
		# `helm lint` and `helm template` assume for .Capabilities when no cluster is asked.
		ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
		for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
			ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
		done
		module="$here/controlplane/helm" pkg="helm.sh/helm/v3/cmd/helm" name="helm-$helm_version" ;;
	containerd | ctr | containerd-shim-runc-v2)
		# Without the snapshotters a node here cannot use (no btrfs, device-mapper or ZFS), as
		# containerd's static builds leave them out.
		tags="no_btrfs no_devmapper no_zfs"
		ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version"
		module="$here/controlplane/containerd" pkg="github.com/containerd/containerd/v2/cmd/$name"
		name="containerd-$containerd_version/$name" ;;
	crictl)
		ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$critools_version"
		module="$here/controlplane/critools" pkg="sigs.k8s.io/cri-tools/cmd/crictl" name="cri-tools-$critools_version/crictl" ;;
	cni-tap | cni-host-local | cni-loopback)
		local plugin=${name#cni-} kind=main
		[[ $plugin == host-local ]] && kind=ipam
		ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version"
		module="$here/controlplane/cni" pkg="github.com/containernetworking/plugins/plugins/$kind/$plugin"
		name="cni-plugins-$cni_version/$plugin" ;;
	*)
		echo "controlplane.sh: unknown component $name" >&2
		return 1 ;;
	esac
	if [[ -x "$dir/$name" ]]; then
		if [[ $1 == kwok && ! -d "$dir/$name-stages" ]]; then
			install_kwok_stages
		fi
		return 0
	fi
	echo "controlplane.sh: building $name into $dir (a cold build takes minutes)" >&2
	local start=$SECONDS
	# Build to a temporary name and rename, so an interrupted build never leaves a broken binary behind.
	local tmp
	mkdir -p "$(dirname "$dir/$name")"
	tmp=$(mktemp "$(dirname "$dir/$name")/.$(basename "$name").XXXXXX")
	if ! (cd "$module" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" "$pkg"); then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$dir/$name"
	echo "controlplane.sh: built $name in $((SECONDS - start))s" >&2
	if [[ $1 == kwok ]]; then
		install_kwok_stages
	fi
}

for c in "${components[@]}"; do
	build "$c"
done
echo "$dir"
