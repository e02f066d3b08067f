package pool

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func managed(manager string, op metav1.ManagedFieldsOperationType, subresource, fields string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: subresource,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
}

// innkeeperFields is what innkeeper's apply owns of the test DaemonSet's pod template.
const innkeeperFields = `{"f:spec":{"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{
	"f:containers":{"k:{\"name\":\"agent\"}":{".":{},"f:name":{},"f:image":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}}}},
	"f:hostNetwork":{},
	"f:volumes":{"k:{\"name\":\"host\"}":{".":{},"f:name":{},"f:hostPath":{"f:path":{}}}}}}}}`

// edited is the test DaemonSet as someone edited it: a sidecar, an env var in innkeeper's
// container, hostIPC, a volume and the annotation of kubectl rollout restart.
func edited() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "fm-kubelet", Namespace: "innkeeper-system"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"},
				Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-12-04T19:00:00Z"}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{
					{Name: "agent", Image: "innkeeper:v1", Env: []corev1.EnvVar{{Name: "A", Value: "a"}, {Name: "B", Value: "b"}},
						TerminationMessagePath: "/dev/termination-log"},
					{Name: "sidecar", Image: "busybox"},
				},
				HostNetwork: true,
				HostIPC:     true,
				Volumes: []corev1.Volume{
					{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
					{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}},
				},
				DNSPolicy: corev1.DNSClusterFirst, // defaulted: nobody's
			},
		}},
	}
}

func TestForeignTemplateFields(t *testing.T) {
	ownApply := managed("innkeeper", metav1.ManagedFieldsOperationApply, "", innkeeperFields)
	editor := managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, "", `{"f:spec":{"f:template":{"f:spec":{
		"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:name":{},"f:image":{}},
			"k:{\"name\":\"agent\"}":{"f:env":{"k:{\"name\":\"B\"}":{".":{},"f:name":{},"f:value":{}}}}},
		"f:hostIPC":{},
		"f:volumes":{"k:{\"name\":\"etc\"}":{".":{},"f:name":{},"f:hostPath":{"f:path":{}}}}}}}}`)
	restart := managed("kubectl-rollout", metav1.ManagedFieldsOperationUpdate, "",
		`{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/restartedAt":{}}}}}}`)
	// Set again to innkeeper's own value: shared, not foreign.
	same := managed("helm", metav1.ManagedFieldsOperationUpdate, "", `{"f:spec":{"f:template":{"f:spec":{"f:hostNetwork":{}}}}}`)
	status := managed("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "status", `{"f:status":{"f:numberReady":{}}}`)
	gone := managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, "", `{"f:spec":{"f:template":{"f:spec":{"f:hostPID":{},
		"f:containers":{"k:{\"name\":\"removed\"}":{".":{},"f:name":{}}}}}}}`)
	outside := managed("kubectl-label", metav1.ManagedFieldsOperationUpdate, "", `{"f:metadata":{"f:labels":{"f:team":{}}},"f:spec":{"f:revisionHistoryLimit":{}}}`)

	tests := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    []foreignField
	}{
		{name: "only innkeeper's apply", entries: []metav1.ManagedFieldsEntry{ownApply, status}},
		{name: "innkeeper never applied it: nothing is foreign", entries: []metav1.ManagedFieldsEntry{editor}},
		{name: "what others added, outermost field first, later list elements before earlier ones",
			entries: []metav1.ManagedFieldsEntry{ownApply, editor, restart, same, status},
			want: []foreignField{
				{path: "spec.template.spec.volumes[name=etc]", pointer: "/spec/template/spec/volumes/1", manager: "kubectl-edit"},
				{path: "spec.template.spec.hostIPC", pointer: "/spec/template/spec/hostIPC", manager: "kubectl-edit"},
				{path: "spec.template.spec.containers[name=sidecar]", pointer: "/spec/template/spec/containers/1", manager: "kubectl-edit"},
				{path: "spec.template.spec.containers[name=agent].env[name=B]", pointer: "/spec/template/spec/containers/0/env/1", manager: "kubectl-edit"},
				{path: "spec.template.metadata.annotations", pointer: "/spec/template/metadata/annotations", manager: "kubectl-rollout"},
			}},
		{name: "fields others set that are gone already, and fields outside the pod template",
			entries: []metav1.ManagedFieldsEntry{ownApply, gone, outside}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ds := edited()
			ds.ManagedFields = tt.entries
			got, err := foreignTemplateFields(ds, FieldOwner)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestComparePointers(t *testing.T) {
	g := NewWithT(t)
	g.Expect(comparePointers("/a/10", "/a/9")).To(BeNumerically(">", 0))
	g.Expect(comparePointers("/a/b", "/a/c")).To(BeNumerically("<", 0))
	g.Expect(comparePointers("/a", "/a/0")).To(BeNumerically("<", 0))
	g.Expect(escapePointer("kubectl.kubernetes.io/restartedAt")).To(Equal("kubectl.kubernetes.io~1restartedAt"))
}
