package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const roles = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: innkeeper-manager
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: innkeeper-manager
  namespace: kube-public
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [cluster-info]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: innkeeper-manager
  namespace: innkeeper-system
rules:
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [create]
`

func TestManagerRBACTemplate(t *testing.T) {
	out, err := managerRBACTemplate([]byte(roles), "innkeeper-system")
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	expectContains(t, got,
		// The ClusterRole first, then the Roles by namespace; each bound to the manager.
		"kind: ClusterRole\nmetadata:\n  name: {{ include \"innkeeper.fullname\" . }}-manager\n",
		"kind: ClusterRoleBinding\n",
		"kind: Role\nmetadata:\n  name: {{ include \"innkeeper.fullname\" . }}-manager\n  namespace: {{ .Release.Namespace }}\n",
		"kind: Role\nmetadata:\n  name: {{ include \"innkeeper.fullname\" . }}-manager\n  namespace: kube-public\n",
		"  resourceNames:\n  - cluster-info\n",
		"  name: {{ include \"innkeeper.managerServiceAccountName\" . }}\n  namespace: {{ .Release.Namespace }}\n",
	)
	if strings.Contains(got, "innkeeper-system") {
		t.Errorf("the manager's namespace of config/ is left in the template:\n%s", got)
	}
	if n := strings.Count(got, "Binding\n"); n != 3 {
		t.Errorf("%d bindings, want 3", n)
	}
	if c, r := strings.Index(got, "kind: ClusterRole\n"), strings.Index(got, "kind: Role\n"); c > r {
		t.Errorf("the ClusterRole comes after a Role")
	}
}

func TestManagerRBACTemplateRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"another kind":     "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: innkeeper-x\n",
		"a foreign name":   "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: manager\n",
		"an unknown field": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: innkeeper-x\nrulez: []\n",
		"nothing":          "---\n",
	} {
		if _, err := managerRBACTemplate([]byte(doc), "innkeeper-system"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSyncCRDs(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for name, content := range map[string]string{"a.yaml": "a", "b.yaml": "b"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A CRD that config/ no longer has must leave the chart too.
	if err := os.WriteFile(filepath.Join(dst, "gone.yaml"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syncCRDs(src, dst); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a.yaml,b.yaml" {
		t.Errorf("crds/ holds %v, want a.yaml and b.yaml", names)
	}
	if err := syncCRDs(t.TempDir(), dst); err == nil {
		t.Error("an empty config/crd/bases gave no error")
	}
}

const agentPolicy = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: innkeeper-agent
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: innkeeper-agent-node-scope
spec:
  failurePolicy: Fail
  matchConditions:
  - name: innkeeper-agent
    expression: request.userInfo.username.endsWith(':innkeeper-agent')
  validations:
  - expression: "!has(request.subResource)"
    message: no status
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: innkeeper-agent-node-scope
spec:
  policyName: innkeeper-agent-node-scope
  validationActions: [Deny]
`

func TestAgentPolicyTemplate(t *testing.T) {
	out, err := agentPolicyTemplate([]byte(agentPolicy))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	expectContains(t, got,
		"kind: ValidatingAdmissionPolicy\nmetadata:\n  name: {{ include \"innkeeper.fullname\" . }}-agent-node-scope\n",
		"  failurePolicy: Fail\n",
		"  - expression: '!has(request.subResource)'\n    message: no status\n",
		"  - name: innkeeper-agent\n    expression: >-\n      "+agentMatchCondition+"\n",
		"  policyName: {{ include \"innkeeper.fullname\" . }}-agent-node-scope\n  validationActions:\n  - Deny\n",
	)
	if strings.Contains(got, "endsWith") {
		t.Errorf("config/'s match condition is left in the template:\n%s", got)
	}
}

func TestAgentPolicyTemplateRefuses(t *testing.T) {
	binding := agentPolicy[strings.Index(agentPolicy, "---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding"):]
	for name, doc := range map[string]string{
		"no binding":          strings.TrimSuffix(agentPolicy, binding),
		"a template action":   strings.Replace(agentPolicy, "!has(request.subResource)", "{{ x }}", 1),
		"a foreign name":      strings.ReplaceAll(agentPolicy, "innkeeper-agent-node-scope", "agent-node-scope"),
		"a binding elsewhere": strings.Replace(agentPolicy, "policyName: innkeeper-agent-node-scope", "policyName: other", 1),
		"an unknown field":    strings.Replace(agentPolicy, "failurePolicy: Fail", "failurePolicy: Fail\n  matchEverything: true", 1),
	} {
		if _, err := agentPolicyTemplate([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// expectContains fails the test for every string of wants that the generated template lacks.
func expectContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("the template lacks %q:\n%s", want, got)
		}
	}
}
