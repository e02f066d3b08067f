//go:build realnode

package realnode_test

import (
	"encoding/json"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/hack/image/oci"
	"github.com/innkeeper-dev/innkeeper/test/realnode"
)

// mirror is an OCI registry, served by the test on the cluster's bridge (in the tests' own network
// namespace, where nothing but the nodes reaches it), that counts the requests it serves.
type mirror struct {
	url      string
	requests atomic.Int64
}

// startMirror serves an in-memory registry holding image (a repository path and tag, such as
// library/hello:v1) until the spec ends.
func startMirror(image string) *mirror {
	GinkgoHelper()
	l, err := net.Listen("tcp", net.JoinHostPort(realnode.BridgeAddr(), "0"))
	Expect(err).NotTo(HaveOccurred())
	m := &mirror{url: "http://" + l.Addr().String()}
	reg := registry.New(registry.Logger(log.New(GinkgoWriter, "registry: ", 0)))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		reg.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	DeferCleanup(srv.Close)

	img, err := oci.Image{Files: []oci.File{{Path: "/hello", Data: []byte("pulled through the mirror\n")}},
		Entrypoint: []string{"/hello"}}.Build()
	Expect(err).NotTo(HaveOccurred())
	ref, err := name.ParseReference(l.Addr().String()+"/"+image, name.Insecure)
	Expect(err).NotTo(HaveOccurred())
	Expect(remote.Write(ref, img)).To(Succeed())
	m.requests.Store(0)
	return m
}

func roomService(objName string, spec hotelv1alpha1.ContainerdSpec) *hotelv1alpha1.RoomService {
	rs := &hotelv1alpha1.RoomService{ObjectMeta: metav1.ObjectMeta{Name: objName}}
	rs.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(pool)
	rs.Spec.Rollout.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	rs.Spec.Containerd = spec
	return rs
}

var _ = Describe("RoomService on real nodes", func() {
	It("pulls through a registry mirror, takes a registries-only change without restarting containerd, and restarts it for a drop-in change", func() {
		m := startMirror("library/hello:v1")
		dockerHub := hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{
			URL: m.url, Capabilities: []hotelv1alpha1.RegistryCapability{"pull", "resolve"}}}}
		rs := roomService("registries", hotelv1alpha1.ContainerdSpec{
			ConfigVersion: 3, MaxConcurrentDownloads: ptr.To[int32](3),
			Registries: []hotelv1alpha1.RegistryHost{dockerHub},
		})
		create(rs)
		waitReady(rs)

		By("docker.io, which these nodes cannot reach, is pulled through the mirror")
		for _, n := range cluster.Nodes {
			out, err := n.Exec(ctx, "crictl", "pull", "docker.io/library/hello:v1")
			Expect(err).NotTo(HaveOccurred(), "%s", out)
			Expect(fileOn(n, "/etc/containerd/certs.d/docker.io/hosts.toml")).To(ContainSubstring(m.url))
		}
		Expect(m.requests.Load()).To(BeNumerically(">=", 2), "the mirror served no pull")

		By("a registries-only change restarts no containerd")
		pids := mainPIDs("containerd.service")
		quay := hotelv1alpha1.RegistryHost{Host: "quay.io", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: m.url}}}
		rs.Spec.Containerd.Registries = []hotelv1alpha1.RegistryHost{dockerHub, quay}
		Expect(k8sClient.Update(ctx, rs)).To(Succeed())
		waitReady(rs)
		for _, n := range cluster.Nodes {
			Expect(fileOn(n, "/etc/containerd/certs.d/quay.io/hosts.toml")).To(ContainSubstring(m.url))
		}
		Expect(mainPIDs("containerd.service")).To(Equal(pids), "containerd was restarted for hosts.toml")

		By("a drop-in change restarts containerd, whose CRI is healthy after")
		rs.Spec.Containerd.MaxConcurrentDownloads = ptr.To[int32](4)
		Expect(k8sClient.Update(ctx, rs)).To(Succeed())
		waitReady(rs)
		after := mainPIDs("containerd.service")
		for _, n := range cluster.Nodes {
			Expect(after[n.Name]).NotTo(Equal(pids[n.Name]), "containerd of %s was not restarted", n.Name)
			Eventually(func(g Gomega) {
				out, err := n.Exec(ctx, "crictl", "info")
				g.Expect(err).NotTo(HaveOccurred(), "%s", out)
				var info struct {
					Status struct {
						Conditions []struct {
							Type   string `json:"type"`
							Status bool   `json:"status"`
						} `json:"conditions"`
					} `json:"status"`
				}
				g.Expect(json.Unmarshal(out, &info)).To(Succeed())
				g.Expect(info.Status.Conditions).To(ContainElement(HaveField("Type", "RuntimeReady")))
				for _, c := range info.Status.Conditions {
					if c.Type == "RuntimeReady" {
						g.Expect(c.Status).To(BeTrue(), "containerd of %s is not ready", n.Name)
					}
				}
			}).WithTimeout(30 * time.Second).Should(Succeed())
			dump, err := n.Exec(ctx, "containerd", "config", "dump")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(dump)).To(ContainSubstring("max_concurrent_downloads = 4"), "containerd of %s does not run the drop-in", n.Name)
		}

		By("deleted, the RoomService takes its drop-in and registry files off every Node, containerd restarted without them")
		Expect(k8sClient.Delete(ctx, rs)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, clientKey(rs), &hotelv1alpha1.RoomService{}))
		}).WithTimeout(5*time.Minute).WithPolling(time.Second).Should(BeTrue(), "the RoomService is still there")
		reverted := mainPIDs("containerd.service")
		for _, n := range cluster.Nodes {
			Expect(fileOn(n, "/etc/containerd/conf.d/50-innkeeper.toml")).To(BeEmpty(), "the drop-in of %s is still there", n.Name)
			for _, host := range []string{"docker.io", "quay.io"} {
				Expect(fileOn(n, "/etc/containerd/certs.d/"+host+"/hosts.toml")).To(BeEmpty(), "the %s hosts.toml of %s", host, n.Name)
			}
			Expect(reverted[n.Name]).NotTo(Equal(after[n.Name]), "containerd of %s was not restarted without the drop-in", n.Name)
			dump, err := n.Exec(ctx, "containerd", "config", "dump")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(dump)).NotTo(ContainSubstring("max_concurrent_downloads = 4"), "containerd of %s still runs the drop-in", n.Name)
			Expect(node(n.Name).Annotations).NotTo(HaveKey(hotelv1alpha1.AgentAnnotation("containerd", hotelv1alpha1.AgentAnnotationState)))
		}
	})
})
