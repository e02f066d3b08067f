#!/usr/bin/env bash
# Prepares what test/realnode needs to boot real nodes, and prints the base root filesystem's path:
#
#   - Debian's systemd-container (systemd-nspawn) and debootstrap, installed with apt-get when
#     missing (CI starts from a bare machine; this needs root);
#   - a Debian bookworm root filesystem with systemd, D-Bus, runc and the network tools a node
#     needs, built by debootstrap once and cached outside the clone, keyed by what it holds, so
#     that every clone on the machine shares it. Each node boots from an overlay of it.
#
# The node binaries (kubelet, containerd, ...) come from hack/controlplane.sh node, not from here.
#
# Environment:
#   INNKEEPER_CACHE_DIR   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/innkeeper)
#   DEBIAN_MIRROR         the Debian mirror (default: the machine's own, from its apt sources)
set -euo pipefail

suite=bookworm
# What a node needs besides the minimal base: systemd as PID 1 and D-Bus (the agent restarts units
# through it), runc (containerd's runtime), iproute2 (the node's network and the tap CNI plugin),
# ca-certificates, and iptables and nftables (kube-proxy's backends).
packages=systemd,systemd-sysv,dbus,iproute2,runc,ca-certificates,iptables,nftables

if [[ $(id -u) -ne 0 ]]; then
	echo "realnode.sh: real nodes need root (systemd-nspawn, mounts, cgroups)" >&2
	exit 1
fi

missing=()
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "realnode.sh: installing ${missing[*]} with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "${missing[@]}" >&2
fi

mirror=${DEBIAN_MIRROR:-}
if [[ -z $mirror ]]; then
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[[ -f $f ]] || continue
		# URIs: lines (deb822) or deb lines, not comments; the main archive, not security's.
		mirror=$(grep -E '^(URIs:|deb )' "$f" | grep -Eo 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
		[[ -n $mirror ]] && break
	done
fi
mirror=${mirror:-http://deb.debian.org/debian}

cache_root=${INNKEEPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/innkeeper}
key=$(printf '%s\n' "$suite" "minbase" "$packages" | sha256sum | cut -c1-12)
rootfs="$cache_root/realnode/rootfs-$suite-$key"
mkdir -p "$cache_root/realnode"

# One builder at a time: two runs must not debootstrap into the same directory.
exec 9>"$cache_root/realnode/.lock"
flock 9

if [[ ! -x $rootfs/usr/lib/systemd/systemd ]]; then
	echo "realnode.sh: debootstrap $suite into $rootfs from $mirror (about a minute)" >&2
	start=$SECONDS
	tmp=$(mktemp -d "$cache_root/realnode/.rootfs.XXXXXX")
	if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
		tail -n 20 "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		exit 1
	fi
	rm -f "$tmp.log"
	# The package cache is most of a fresh root's size, and a node never installs anything.
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
	rm -rf "$rootfs"
	mv "$tmp" "$rootfs"
	echo "realnode.sh: built $rootfs in $((SECONDS - start))s" >&2
fi
echo "$rootfs"
