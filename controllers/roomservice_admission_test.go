package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// roomService builds a RoomService over a test pool from a YAML spec (see poolObject).
func roomService(name, specYAML string) *unstructured.Unstructured {
	return poolObject("RoomService", name, specYAML)
}

var _ = Describe("RoomService admission", func() {
	DescribeTable("the API server rejects an invalid RoomService, naming the field",
		func(specYAML, field, message string) {
			err := k8sClient.Create(ctx, roomService("invalid", specYAML), createOpts...)
			Expect(err).To(HaveOccurred(), "the API server accepted %s", specYAML)
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error kind: %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("no containerd section", `{}`, "spec.containerd", "Required value"),
		Entry("no configVersion", `{containerd: {}}`, "spec.containerd.configVersion", "Required value"),
		Entry("configVersion 1, which containerd 2 removed", `{containerd: {configVersion: 1}}`,
			"spec.containerd.configVersion", "Unsupported value"),
		Entry("a runtime type that is no containerd shim", `{containerd: {configVersion: 2, runtimes: [{name: gvisor, runtimeType: runsc}]}}`,
			"spec.containerd.runtimes[0].runtimeType", "should match"),
		Entry("a runtime name that is no DNS label", `{containerd: {configVersion: 2, runtimes: [{name: Kata_QEMU, runtimeType: io.containerd.kata.v2}]}}`,
			"spec.containerd.runtimes[0].name", "should match"),
		Entry("two runtimes of one name", `{containerd: {configVersion: 2, runtimes: [{name: a, runtimeType: io.containerd.runc.v2}, {name: a, runtimeType: io.containerd.kata.v2}]}}`,
			"spec.containerd.runtimes[1]", "Duplicate value"),
		Entry("a default runtime that is not among the runtimes", `{containerd: {configVersion: 3, defaultRuntimeName: nvidia, runtimes: [{name: runc, runtimeType: io.containerd.runc.v2}]}}`,
			"spec.containerd.defaultRuntimeName", "defaultRuntimeName must name one of runtimes"),
		Entry("systemdCgroup on a runtime that is not runc", `{containerd: {configVersion: 3, runtimes: [{name: kata, runtimeType: io.containerd.kata.v2, systemdCgroup: true}]}}`,
			"spec.containerd.runtimes[0]", "options of runc (io.containerd.runc.v2) only"),
		Entry("systemdCgroup with a runtime named runc that is not runc", `{containerd: {configVersion: 3, systemdCgroup: true, runtimes: [{name: runc, runtimeType: io.containerd.kata.v2}]}}`,
			"spec.containerd.runtimes", "systemdCgroup also sets SystemdCgroup on the runtime named runc"),
		Entry("a registry port 0", `{containerd: {configVersion: 2, registries: [{host: "registry.example.com:0", server: "https://a.example"}]}}`,
			"spec.containerd.registries[0].host", "port must be from 1 to 65535"),
		Entry("a registry port above 65535", `{containerd: {configVersion: 2, registries: [{host: "registry.example.com:70000", server: "https://a.example"}]}}`,
			"spec.containerd.registries[0].host", "port must be from 1 to 65535"),
		Entry("a mirror URL with its scheme in upper case, which containerd takes for a host", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "HTTPS://mirror.example.com"}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].url", "url must be an http or https URL with a host"),
		Entry("a mirror URL with credentials", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://user:secret@mirror.example.com"}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].url", "url must not hold user info"),
		Entry("a mirror URL with a fragment, which containerd drops", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://mirror.example.com/#v2"}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].url", "url must not hold a fragment (#...): containerd drops it"),
		Entry("a server with a fragment", `{containerd: {configVersion: 2, registries: [{host: docker.io, server: "https://registry.example.com#x"}]}}`,
			"spec.containerd.registries[0].server", "server must not hold a fragment"),
		Entry("a server with credentials", `{containerd: {configVersion: 2, registries: [{host: docker.io, server: "https://user@registry.example.com"}]}}`,
			"spec.containerd.registries[0].server", "server must not hold user info"),
		Entry("maxConcurrentDownloads 0", `{containerd: {configVersion: 2, maxConcurrentDownloads: 0}}`,
			"spec.containerd.maxConcurrentDownloads", "should be greater than or equal to 1"),
		Entry("a snapshotter that is no name", `{containerd: {configVersion: 2, snapshotter: "overlay fs"}}`,
			"spec.containerd.snapshotter", "should match"),
		Entry("two entries for one registry", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example"}]}, {host: docker.io, server: "https://b.example"}]}}`,
			"spec.containerd.registries[1]", "Duplicate value"),
		Entry("a registry host with a path", `{containerd: {configVersion: 2, registries: [{host: docker.io/library, mirrors: [{url: "https://a.example"}]}]}}`,
			"spec.containerd.registries[0].host", "should match"),
		Entry("a registry with neither server nor mirrors", `{containerd: {configVersion: 2, registries: [{host: docker.io}]}}`,
			"spec.containerd.registries[0]", "a registry needs a server or at least one mirror"),
		Entry("a server for _default", `{containerd: {configVersion: 2, registries: [{host: _default, server: "https://a.example"}]}}`,
			"spec.containerd.registries[0]", "_default applies to every registry"),
		Entry("a mirror URL that is no URL", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "mirror.example.com"}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].url", "url must be an http or https URL with a host"),
		Entry("a mirror URL of another scheme", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "ftp://mirror.example.com"}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].url", "url must be an http or https URL with a host"),
		Entry("a server that is no URL", `{containerd: {configVersion: 2, registries: [{host: docker.io, server: "registry-1.docker.io"}]}}`,
			"spec.containerd.registries[0].server", "server must be an http or https URL with a host"),
		Entry("one mirror twice", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example"}, {url: "https://a.example"}]}]}}`,
			"spec.containerd.registries[0].mirrors", "mirror URLs must be unique"),
		Entry("an unknown capability", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", capabilities: [pull, delete]}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].capabilities[1]", "Unsupported value"),
		Entry("a header name with a space", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", headers: [{name: "X Token", values: [a]}]}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].headers[0].name", "should match"),
		Entry("a header value with a line break", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", headers: [{name: X-Token, values: ["a\nb"]}]}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].headers[0].values[0]", "should match"),
		Entry("a zero dialTimeout", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", dialTimeout: 0s}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].dialTimeout", "dialTimeout must be above 0"),
		Entry("a dialTimeout for containerd 1.7, which ignores it", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", dialTimeout: 5s}]}]}}`,
			"spec.containerd.registries", "dialTimeout needs containerd 2.1 or later"),
		Entry("a registry host too long to name its files", `{containerd: {configVersion: 3, registries: [{host: "`+strings.Repeat("a", 231)+`", server: "https://a.example"}]}}`,
			"spec.containerd.registries[0].host", "Too long"),
		Entry("a CA bundle without a ConfigMap name", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://a.example", caBundle: {key: ca.crt}}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].caBundle.name", "Required value"),
		Entry("a field containerd has but innkeeper does not offer", `{containerd: {configVersion: 2, root: /var/lib/containerd}}`,
			"spec.containerd.root", "unknown field"),
	)

	DescribeTable("the API server accepts a valid RoomService",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, roomService("valid", specYAML), createOpts...)).To(Succeed())
		},
		Entry("only the configuration version", `{containerd: {configVersion: 2}}`),
		Entry("every field", `
containerd:
  configVersion: 3
  sandboxImage: registry.k8s.io/pause:3.10
  defaultRuntimeName: runc
  runtimes:
  - {name: runc, runtimeType: io.containerd.runc.v2, systemdCgroup: true}
  - {name: nvidia, runtimeType: io.containerd.runc.v2, binaryName: /usr/bin/nvidia-container-runtime}
  - {name: kata, runtimeType: io.containerd.kata.v2, configPath: /etc/kata-containers/configuration.toml, podAnnotations: ["io.katacontainers.*"]}
  systemdCgroup: true
  maxConcurrentDownloads: 6
  snapshotter: overlayfs
  enableCDI: true
  registries:
  - host: docker.io
    server: https://registry-1.docker.io
    mirrors:
    - url: https://mirror.example.com
      capabilities: [pull, resolve]
      caBundle: {name: mirror-ca}
      headers: [{name: X-Mirror-Token, values: [abc]}]
      dialTimeout: 5s
    - url: http://10.0.0.5:5000/v2/docker.io
      capabilities: [pull]
      overridePath: true
      skipVerify: true
  - host: registry.example.com:5000
    server: https://registry.example.com:5000
  - host: _default
    mirrors: [{url: "https://cache.example.com"}]
`),
	)
})
