package controllers_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The manager's ClusterRole (generated from the RBAC markers) may read DaemonSets cluster-wide, to
// find another kube-proxy on a pool, and write none: a Concierge's take-over updates DaemonSets only
// in the namespaces an installation names (a Role of the chart's concierge.takeOver, or of
// config/take-over), and innkeeper's own are in its namespace's Role. A marker that grants more
// cluster-wide fails here.
func TestManagerClusterRoleWritesNoDaemonSet(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	read := []string{"get", "list", "watch"}
	var clusterRoles int
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &role); err != nil {
			t.Fatal(err)
		}
		if role.Kind != "ClusterRole" {
			continue
		}
		clusterRoles++
		for _, rule := range role.Rules {
			if !covers(rule.APIGroups, "apps") || !covers(rule.Resources, "daemonsets") {
				continue
			}
			for _, verb := range rule.Verbs {
				if !slices.Contains(read, verb) {
					t.Errorf("ClusterRole %s grants %q on DaemonSets in every namespace: %+v", role.Name, verb, rule)
				}
			}
		}
	}
	if clusterRoles == 0 {
		t.Fatal("no ClusterRole in config/rbac/role.yaml")
	}
}

// covers reports whether a rule's list names want, or every one.
func covers(list []string, want string) bool {
	return slices.Contains(list, want) || slices.Contains(list, "*")
}

// config/take-over, the kustomize component that enables take-over, grants the manager update on
// DaemonSets in exactly the namespaces its flag names, and nothing more.
func TestTakeOverComponentGrantsWhatItNames(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "take-over", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	bound := map[string]bool{}
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Role":
			var role rbacv1.Role
			if err := yaml.UnmarshalStrict(doc, &role); err != nil {
				t.Fatal(err)
			}
			want := []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: []string{"update"}}}
			if !equalRules(role.Rules, want) {
				t.Errorf("Role %s/%s grants %+v, want only update on DaemonSets", role.Namespace, role.Name, role.Rules)
			}
			granted[role.Namespace] = true
		case "RoleBinding":
			var binding rbacv1.RoleBinding
			if err := yaml.UnmarshalStrict(doc, &binding); err != nil {
				t.Fatal(err)
			}
			want := rbacv1.Subject{Kind: "ServiceAccount", Name: "innkeeper-manager", Namespace: "innkeeper-system"}
			if len(binding.Subjects) != 1 || binding.Subjects[0] != want {
				t.Errorf("RoleBinding %s/%s binds %+v, want the manager's ServiceAccount only", binding.Namespace, binding.Name, binding.Subjects)
			}
			bound[binding.Namespace] = true
		default:
			t.Errorf("unexpected kind %q", meta.Kind)
		}
	}
	kustomization, err := os.ReadFile(filepath.Join("..", "config", "take-over", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const flag = "value: --take-over-namespaces="
	i := bytes.Index(kustomization, []byte(flag))
	if i < 0 {
		t.Fatalf("config/take-over/kustomization.yaml does not add %s to the manager", flag)
	}
	named := strings.Split(strings.TrimSpace(strings.SplitN(string(kustomization[i+len(flag):]), "\n", 2)[0]), ",")
	for _, ns := range named {
		if !granted[ns] || !bound[ns] {
			t.Errorf("the flag names %s, but no Role and RoleBinding there grant the manager update on DaemonSets", ns)
		}
	}
	if len(granted) != len(named) || len(bound) != len(named) {
		t.Errorf("Roles in %v and RoleBindings in %v, for the namespaces %v the flag names", granted, bound, named)
	}
}

// equalRules reports whether two lists of rules are the same.
func equalRules(a, b []rbacv1.PolicyRule) bool {
	return slices.EqualFunc(a, b, func(x, y rbacv1.PolicyRule) bool {
		return slices.Equal(x.APIGroups, y.APIGroups) && slices.Equal(x.Resources, y.Resources) &&
			slices.Equal(x.Verbs, y.Verbs) && len(x.ResourceNames) == 0 && len(y.ResourceNames) == 0 && len(x.NonResourceURLs) == 0
	})
}

// Every kind's objects may carry innkeeper's finalizer (a revert, an orphaned or given-back
// DaemonSet), which the manager adds and removes with a patch of the object: its ClusterRole must
// grant patch on each, or deletions hang (found on the real nodes, where the chart's RBAC applies).
func TestManagerClusterRolePatchesEveryKind(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	patchable := map[string]bool{}
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &role); err != nil {
			t.Fatal(err)
		}
		for _, rule := range role.Rules {
			if !covers(rule.APIGroups, "hotel.innkeeper.dev") || !covers(rule.Verbs, "patch") {
				continue
			}
			for _, r := range rule.Resources {
				patchable[r] = true
			}
		}
	}
	for _, kind := range []string{"floormanagers", "concierges", "roomservices"} {
		if !patchable[kind] {
			t.Errorf("the manager's ClusterRole grants no patch on %s: it could not add or remove its finalizer", kind)
		}
	}
}
