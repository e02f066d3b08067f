package differential

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubeproxy"
)

var (
	count = flag.Int("count-per-kind", 300, "random objects of each kind to submit")
	seed  = flag.Uint64("seed", 15, "seed of the random objects; the same seed gives the same objects")
)

// renderOnly are the fields that innkeeper checks only when it renders, by design, each with its
// reason: an admitted object refused there stalls as InvalidSpec and is no mismatch. Every other
// render refusal of an admitted object is one: admission should have refused it.
// None is left: feature gates are refused at admission by rules generated from the gate table
// (hack/gatesapi), and a Concierge's image by the reference grammar of the kubelet's parser.
var renderOnly = map[string]string{}

// TestDifferential submits random objects of every kind to a real API server, which admits or
// refuses them by the CRDs' schema and CEL rules, renders each admitted one with innkeeper's
// renderers, and has the component's own code load the result. It fails on every admitted object
// that innkeeper cannot decode, refuses to render outside renderOnly, or renders into a
// configuration its component refuses.
func TestDifferential(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-differential`")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caBundles := map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: caConfigMap, Key: "ca.crt"}: selfSignedCA(t)}

	for i, kind := range []string{"FloorManager", "Concierge", "RoomService"} {
		t.Run(kind, func(t *testing.T) {
			g := gen{r: rand.New(rand.NewPCG(*seed, uint64(i)))}
			var tally struct{ rejected, renderOnly, accepted, failed int }
			start := time.Now()
			for n := range *count {
				obj := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": hotelv1alpha1.GroupVersion.String(), "kind": kind,
					"metadata": map[string]any{"name": fmt.Sprintf("diff-%d", n)},
					"spec":     g.spec(kind),
				}}
				submitted, _ := yaml.Marshal(obj.Object["spec"])
				err := c.Create(t.Context(), obj, client.DryRunAll, client.FieldValidation("Strict"))
				if err != nil {
					if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
						t.Fatalf("%s %d: the API server failed: %v", kind, n, err)
					}
					tally.rejected++
					continue
				}
				stage, err := check(t.Context(), t.TempDir(), kind, obj.Object, caBundles)
				switch {
				case err == nil:
					tally.accepted++
				case stage == stageRenderOnly:
					tally.renderOnly++
				default:
					tally.failed++
					t.Errorf("%s %d admitted, but %s refuses it:\n%v\nsubmitted spec:\n%s", kind, n, stage, err, submitted)
				}
			}
			t.Logf("%s: %d objects (seed %d) in %v: %d rejected at admission, %d admitted and refused at render by design (InvalidSpec), "+
				"%d rendered and taken by the component, %d mismatches",
				kind, *count, *seed, time.Since(start).Round(time.Millisecond), tally.rejected, tally.renderOnly, tally.accepted, tally.failed)
		})
	}
}

// The stages an admitted object goes through, as failures name them.
const (
	stageDecode     = "innkeeper's decoding (the manager would report it Undecodable)"
	stageRender     = "innkeeper's rendering (InvalidSpec), where admission should have refused it"
	stageRenderOnly = "innkeeper's rendering, by design"
	stageComponent  = "the component"
)

// check decodes an admitted object as the manager does, renders it, and has the component load
// the result. It returns the stage that refused it and why.
func check(ctx context.Context, dir, kind string, content map[string]any, caBundles map[hotelv1alpha1.ConfigMapKeyReference]string) (string, error) {
	data, err := json.Marshal(content)
	if err != nil {
		return stageDecode, err
	}
	var pool *hotelv1alpha1.PoolSpec
	var renderErr error
	var component func() error
	switch kind {
	case "FloorManager":
		obj := &hotelv1alpha1.FloorManager{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
			return stageDecode, err
		}
		pool = obj.PoolSpec()
		var dropIn []byte
		dropIn, renderErr = kubelet.Render(&obj.Spec.Kubelet)
		component = func() error {
			if err := checkKubelet(ctx, dir, dropIn); err != nil {
				return fmt.Errorf("kubelet: %w\nrendered drop-in:\n%s", err, dropIn)
			}
			return nil
		}
	case "Concierge":
		obj := &hotelv1alpha1.Concierge{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
			return stageDecode, err
		}
		pool = obj.PoolSpec()
		var config []byte
		config, renderErr = kubeproxy.Render(&obj.Spec.KubeProxy)
		if obj.Spec.Image != nil {
			if errs := kubeproxy.ValidateImage(*obj.Spec.Image, field.NewPath("spec", "image")); len(errs) > 0 {
				renderErr = utilerrors.NewAggregate([]error{renderErr, errs.ToAggregate()})
			}
		}
		component = func() error {
			if err := checkKubeProxy(config); err != nil {
				return fmt.Errorf("kube-proxy: %w\nrendered configuration:\n%s", err, config)
			}
			if obj.Spec.Image != nil {
				if err := checkImage(*obj.Spec.Image); err != nil {
					return fmt.Errorf("kubelet image parser: %w", err)
				}
			}
			return nil
		}
	case "RoomService":
		obj := &hotelv1alpha1.RoomService{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
			return stageDecode, err
		}
		pool = obj.PoolSpec()
		var files map[string]string
		files, renderErr = containerd.Render(&obj.Spec.Containerd, caBundles)
		component = func() error {
			if err := checkContainerd(ctx, dir, &obj.Spec.Containerd, files); err != nil {
				var b strings.Builder
				for _, k := range slices.Sorted(maps.Keys(files)) {
					if !strings.HasSuffix(k, ".crt") {
						fmt.Fprintf(&b, "--- %s\n%s", k, files[k])
					}
				}
				return fmt.Errorf("containerd: %w\nrendered files:\n%s", err, b.String())
			}
			return nil
		}
	}
	// The engine selects the pool's Nodes with the selector (internal/pool): one it cannot parse
	// stalls the object as InvalidSpec.
	if _, err := metav1.LabelSelectorAsSelector(pool.NodeSelector.LabelSelector()); err != nil {
		renderErr = utilerrors.NewAggregate([]error{renderErr, field.Invalid(field.NewPath("spec", "nodeSelector"), "", err.Error())})
	}
	if renderErr != nil {
		if onlyRenderOnly(renderErr) {
			return stageRenderOnly, renderErr
		}
		return stageRender, renderErr
	}
	if err := component(); err != nil {
		return stageComponent, err
	}
	return "", nil
}

// onlyRenderOnly reports whether every error in err is a field error under a renderOnly field.
func onlyRenderOnly(err error) bool {
	var errs []error
	if agg, ok := err.(utilerrors.Aggregate); ok {
		errs = utilerrors.Flatten(agg).Errors()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *field.Error
		if !errors.As(e, &fe) {
			return false
		}
		found := false
		for prefix := range renderOnly {
			if fe.Field == prefix || strings.HasPrefix(fe.Field, prefix+"[") || strings.HasPrefix(fe.Field, prefix+".") {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return len(errs) > 0
}

// selfSignedCA returns the PEM of a CA certificate for the mirrors' caBundles.
func selfSignedCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "innkeeper differential CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
