package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// poolLabel is the Node label that each benchmark FloorManager selects its pool by.
const poolLabel = "node.kubernetes.io/pool"

// nodeLeaseNamespace holds the kubelets' Leases (their heartbeats).
const nodeLeaseNamespace = "kube-node-lease"

// poolName names the i-th pool, and the FloorManager that selects it.
func poolName(i int) string { return fmt.Sprintf("pool-%d", i) }

// nodeName names the i-th Node of a pool.
func nodeName(pool string, i int) string { return fmt.Sprintf("%s-node-%04d", pool, i) }

// nodeFactory builds Nodes as a kubelet on a cloud VM registers them: well-known and cloud labels,
// the kubelet's annotations, capacity and allocatable, the four kubelet conditions, addresses,
// node info and status.images. Each Node is derived from the seed and its name alone, so a run is
// reproducible.
type nodeFactory struct {
	seed   uint64
	images int
	now    time.Time
}

// rng returns the random source of one Node.
func (f nodeFactory) rng(serial int) *rand.Rand {
	return rand.New(rand.NewPCG(f.seed, uint64(serial)))
}

// node returns the serial-th Node of the cluster, the index-th of pool.
func (f nodeFactory) node(pool string, index, serial int) *corev1.Node {
	r := f.rng(serial)
	name := nodeName(pool, index)
	zone := "eu-west-1" + string(rune('a'+serial%3))
	instanceID := fmt.Sprintf("i-%017x", r.Uint64()&0xfffffffffffffff)
	ip := fmt.Sprintf("10.%d.%d.%d", 16+serial/65536, (serial/256)%256, serial%256)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"beta.kubernetes.io/arch":          "amd64",
				"beta.kubernetes.io/instance-type": "m6i.8xlarge",
				"beta.kubernetes.io/os":            "linux",
				"kubernetes.io/arch":               "amd64",
				"kubernetes.io/hostname":           name,
				"kubernetes.io/os":                 "linux",
				"node.kubernetes.io/instance-type": "m6i.8xlarge",
				"topology.kubernetes.io/region":    "eu-west-1",
				"topology.kubernetes.io/zone":      zone,
				"topology.ebs.csi.aws.com/zone":    zone,
				poolLabel:                          pool,
			},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid":                        fmt.Sprintf(`{"ebs.csi.aws.com":%q}`, instanceID),
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:    fmt.Sprintf("100.%d.%d.0/24", 64+serial/65536, serial%256),
			PodCIDRs:   []string{fmt.Sprintf("100.%d.%d.0/24", 64+serial/65536, serial%256)},
			ProviderID: fmt.Sprintf("aws:///%s/%s", zone, instanceID),
		},
		Status: corev1.NodeStatus{
			Capacity:    nodeResources("32", "131900064Ki", "203056560Ki"),
			Allocatable: nodeResources("31850m", "128342944Ki", "187136208165"),
			Conditions:  f.conditions(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: ip},
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalDNS, Address: fmt.Sprintf("ip-%s.eu-west-1.compute.internal", ip)},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               hexString(r, 32),
				SystemUUID:              uuid(r),
				BootID:                  uuid(r),
				KernelVersion:           "6.1.0-28-cloud-amd64",
				OSImage:                 "Debian GNU/Linux 12 (bookworm)",
				ContainerRuntimeVersion: "containerd://1.7.24",
				KubeletVersion:          "v1.37.2",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
			Images: f.containerImages(r),
		},
	}
}

// conditions are a healthy kubelet's conditions.
func (f nodeFactory) conditions() []corev1.NodeCondition {
	at := metav1.NewTime(f.now)
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: message,
			LastHeartbeatTime: at, LastTransitionTime: at}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// imageRegistries are where the images on the benchmark's Nodes come from.
var imageRegistries = []string{
	"123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ghcr.io", "docker.io", "quay.io", "registry.k8s.io",
}

// containerImages returns f.images images as the kubelet reports them: each by digest and by tag.
func (f nodeFactory) containerImages(r *rand.Rand) []corev1.ContainerImage {
	images := make([]corev1.ContainerImage, f.images)
	for i := range images {
		repo := fmt.Sprintf("%s/team-%02d/service-%03d", imageRegistries[r.IntN(len(imageRegistries))], r.IntN(40), r.IntN(400))
		images[i] = corev1.ContainerImage{
			Names: []string{
				repo + "@sha256:" + hexString(r, 64),
				fmt.Sprintf("%s:v%d.%d.%d", repo, r.IntN(4), r.IntN(30), r.IntN(20)),
			},
			SizeBytes: 2_000_000 + r.Int64N(1_500_000_000),
		}
	}
	return images
}

func nodeResources(cpu, memory, storage string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(cpu),
		corev1.ResourceMemory:           resource.MustParse(memory),
		corev1.ResourceEphemeralStorage: resource.MustParse(storage),
		corev1.ResourcePods:             resource.MustParse("110"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
}

func hexString(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	h := hexString(r, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// nodeLease is the Lease through which a Node's kubelet heartbeats, owned by its Node.
func nodeLease(node *corev1.Node, now time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:      node.Name,
			Namespace: nodeLeaseNamespace,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(node.Name),
			LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime:            &metav1.MicroTime{Time: now},
		},
	}
}

// poolSpec selects one pool, whose objects roll out to 10% of it at a time.
func poolSpec(pool string) hotelv1alpha1.PoolSpec {
	maxUnavailable := intstr.FromString("10%")
	return hotelv1alpha1.PoolSpec{
		NodeSelector: hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{poolLabel: pool}}),
		Rollout:      hotelv1alpha1.RolloutSpec{MaxUnavailable: &maxUnavailable},
	}
}

// floorManager is the FloorManager of one pool: a typical kubelet configuration.
func floorManager(pool string) *hotelv1alpha1.FloorManager {
	return &hotelv1alpha1.FloorManager{
		ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec: hotelv1alpha1.FloorManagerSpec{
			PoolSpec: poolSpec(pool),
			Kubelet: hotelv1alpha1.KubeletSpec{
				MaxPods:      ptr.To[int32](110),
				PodPidsLimit: ptr.To[int64](4096),
			},
		},
	}
}

// concierge is the Concierge of one pool: kube-proxy in ipvs mode.
func concierge(pool string) *hotelv1alpha1.Concierge {
	return &hotelv1alpha1.Concierge{
		ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec: hotelv1alpha1.ConciergeSpec{
			PoolSpec:  poolSpec(pool),
			KubeProxy: hotelv1alpha1.KubeProxySpec{Mode: ptr.To("ipvs"), ClusterCIDR: ptr.To("10.244.0.0/16")},
		},
	}
}

// roomService is the RoomService of one pool: containerd 2 with a Docker Hub mirror.
func roomService(pool string) *hotelv1alpha1.RoomService {
	return &hotelv1alpha1.RoomService{
		ObjectMeta: metav1.ObjectMeta{Name: pool},
		Spec: hotelv1alpha1.RoomServiceSpec{
			PoolSpec: poolSpec(pool),
			Containerd: hotelv1alpha1.ContainerdSpec{
				ConfigVersion: 3,
				SandboxImage:  ptr.To("registry.k8s.io/pause:3.10"),
				SystemdCgroup: ptr.To(true),
				Registries: []hotelv1alpha1.RegistryHost{{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{
					URL: "https://mirror.example.com", Capabilities: []hotelv1alpha1.RegistryCapability{"pull", "resolve"},
				}}}},
			},
		},
	}
}

// forEach calls fn for 0..n-1 from at most workers goroutines, stopping at the first error,
// which it returns.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// addOns are the node DaemonSets a cluster runs besides innkeeper's, by name and image: kubeadm's
// kube-proxy (kept off the pools, whose kube-proxy the Concierges run, as docs/concierge.md tells an
// admin to do) and the usual network, storage, logging and monitoring agents.
var addOns = []struct{ name, image string }{
	{"kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2"},
	{"calico-node", "docker.io/calico/node:v3.31.0"},
	{"ebs-csi-node", "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.52.0"},
	{"efs-csi-node", "public.ecr.aws/efs-csi-driver/amazon/aws-efs-csi-driver:v2.1.0"},
	{"node-exporter", "quay.io/prometheus/node-exporter:v1.10.0"},
	{"fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:4.1.0"},
	{"nvidia-device-plugin", "nvcr.io/nvidia/k8s-device-plugin:v0.18.0"},
	{"node-problem-detector", "registry.k8s.io/node-problem-detector/node-problem-detector:v0.8.21"},
	{"datadog-agent", "gcr.io/datadoghq/agent:7.70.0"},
	{"falco", "docker.io/falcosecurity/falco:0.42.0"},
	{"secrets-store-csi-driver", "registry.k8s.io/csi-secrets-store/driver:v1.5.4"},
	{"istio-cni-node", "docker.io/istio/install-cni:1.28.0"},
}

// addOnDaemonSet is the i-th add-on's DaemonSet in kube-system, with a pod template as full as such
// agents carry: an init container, a main container and a sidecar, environment, probes, resources
// and host mounts.
func addOnDaemonSet(i int) *appsv1.DaemonSet {
	a := addOns[i%len(addOns)]
	name := a.name
	if i >= len(addOns) {
		name = fmt.Sprintf("%s-%d", a.name, i/len(addOns))
	}
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "cluster-addons"}
	var env []corev1.EnvVar
	for j := range 12 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("%s_SETTING_%d", "AGENT", j), Value: fmt.Sprintf("value-%d", j)})
	}
	env = append(env, corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}})
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, path := range []string{"/var/log", "/var/lib/kubelet", "/run", "/sys", "/proc", "/etc/machine-id", "/lib/modules", "/var/run/containerd"} {
		v := fmt.Sprintf("host%d", len(volumes))
		volumes = append(volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}})
		mounts = append(mounts, corev1.VolumeMount{Name: v, MountPath: path, ReadOnly: true})
	}
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: a.image, Args: []string{"--v=2", "--metrics-bind-address=0.0.0.0:9100"},
			Env: env, VolumeMounts: mounts,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz", Port: intstr.FromInt32(9100)}}, PeriodSeconds: 10},
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}
	}
	initContainer := container("init")
	initContainer.LivenessProbe = nil // not allowed on init containers
	pod := corev1.PodSpec{
		InitContainers:     []corev1.Container{initContainer},
		Containers:         []corev1.Container{container(name), container("sidecar")},
		Volumes:            volumes,
		HostNetwork:        true,
		PriorityClassName:  "system-node-critical",
		ServiceAccountName: name,
		NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
		Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
	}
	if a.name == "kube-proxy" {
		pod.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: poolLabel, Operator: corev1.NodeSelectorOpDoesNotExist}},
			}}}}}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name, Labels: labels,
			Annotations: map[string]string{"deprecated.daemonset.template.generation": "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}
