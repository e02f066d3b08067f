package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// priorityClassFlag is --agent-priority-class: a priority class name, checked as the API server
// checks a pod's, or empty for none.
type priorityClassFlag struct{ name *string }

func (f priorityClassFlag) String() string {
	if f.name == nil {
		return ""
	}
	return *f.name
}

func (f priorityClassFlag) Set(s string) error {
	if errs := pool.ValidatePriorityClassName(s, field.NewPath("priorityClassName")); len(errs) > 0 {
		return errors.New(errs[0].ErrorBody())
	}
	*f.name = s
	return nil
}

// tolerationsFlag is --agent-tolerations: a JSON list of Kubernetes tolerations.
type tolerationsFlag struct{ tolerations *[]corev1.Toleration }

func (f tolerationsFlag) String() string {
	if f.tolerations == nil {
		return ""
	}
	data, err := json.Marshal(*f.tolerations)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

func (f tolerationsFlag) Set(s string) error {
	tolerations, err := parseTolerations(s)
	if err != nil {
		return err
	}
	*f.tolerations = tolerations
	return nil
}

// parseTolerations reads a JSON list of tolerations and checks them as the API server would. It is
// strict: an unknown field (a misspelt "tolerationSeconds", say) is refused rather than dropped, so
// that a pod never tolerates less, or more, than the operator meant.
func parseTolerations(s string) ([]corev1.Toleration, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "[") {
		return nil, errors.New(`want a JSON list of tolerations, such as [{"operator":"Exists"}], or [] for none`)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	tolerations := []corev1.Toleration{}
	if err := dec.Decode(&tolerations); err != nil {
		return nil, fmt.Errorf("not a JSON list of tolerations: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a JSON list of tolerations: more data after the list")
	}
	if errs := pool.ValidateTolerations(tolerations, field.NewPath("tolerations")); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return tolerations, nil
}

// secretNamesFlag is --image-pull-secrets: Secret names, comma-separated; "" for none.
type secretNamesFlag struct{ names *[]string }

func (f secretNamesFlag) String() string {
	if f.names == nil {
		return ""
	}
	return strings.Join(*f.names, ",")
}

func (f secretNamesFlag) Set(s string) error {
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if errs := pool.ValidateSecretNames(names, field.NewPath("imagePullSecrets")); len(errs) > 0 {
		return errors.New(errs[0].Error())
	}
	*f.names = names
	return nil
}

// namespacesFlag is --take-over-namespaces: namespace names, comma-separated; "" for none.
type namespacesFlag struct{ names *[]string }

func (f namespacesFlag) String() string {
	if f.names == nil {
		return ""
	}
	return strings.Join(*f.names, ",")
}

func (f namespacesFlag) Set(s string) error {
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if errs := pool.ValidateNamespaceNames(names, field.NewPath("takeOverNamespaces")); len(errs) > 0 {
		return errors.New(errs[0].Error())
	}
	*f.names = names
	return nil
}

// resourcesFlag is --agent-resources or --kube-proxy-resources: a container's resources as JSON,
// {"requests": {...}, "limits": {...}}.
type resourcesFlag struct{ resources **corev1.ResourceRequirements }

func (f resourcesFlag) String() string {
	if f.resources == nil || *f.resources == nil {
		return ""
	}
	data, err := json.Marshal(*f.resources)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

func (f resourcesFlag) Set(s string) error {
	r, err := parseResources(s)
	if err != nil {
		return err
	}
	*f.resources = r
	return nil
}

// parseResources reads a container's resources from JSON, strictly (an unknown field is refused),
// and checks what the API server would: no request above its limit, no negative quantity.
func parseResources(s string) (*corev1.ResourceRequirements, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	r := &corev1.ResourceRequirements{}
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf(`want a container's resources as JSON, such as {"requests":{"cpu":"10m"}}: %w`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more data after the resources")
	}
	if len(r.Claims) > 0 {
		return nil, errors.New("claims are not supported: only requests and limits")
	}
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name, q := range list {
			if q.Sign() < 0 {
				return nil, fmt.Errorf("%s: %s is negative", name, q.String())
			}
		}
	}
	for name, req := range r.Requests {
		if limit, ok := r.Limits[name]; ok && req.Cmp(limit) > 0 {
			return nil, fmt.Errorf("the %s request %s is above its limit %s", name, req.String(), limit.String())
		}
	}
	return r, nil
}
