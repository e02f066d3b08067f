package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// controlPlane is envtest's kube-apiserver and etcd with innkeeper's CRDs installed, and how to
// reach it: a REST config and client for the benchmark, a kubeconfig file for its children.
type controlPlane struct {
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	kubeconfig string
}

// startControlPlane starts kube-apiserver and etcd from $KUBEBUILDER_ASSETS, installs the CRDs
// and creates the namespaces the benchmark uses. It writes the admin kubeconfig into dir.
func startControlPlane(ctx context.Context, dir string) (*controlPlane, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run `make bench`, or export KUBEBUILDER_ASSETS=$(make -s envtest-assets)")
	}
	crds, err := crdDirectory()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		DownloadBinaryAssets:  false,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	cp := &controlPlane{env: env, cfg: cfg, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := cp.prepare(ctx); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

// prepare builds the benchmark's client, writes the kubeconfig and creates the namespaces.
func (cp *controlPlane) prepare(ctx context.Context) error {
	var err error
	if cp.client, err = client.New(cp.cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		return fmt.Errorf("create a client: %w", err)
	}
	if err := os.WriteFile(cp.kubeconfig, cp.env.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	for _, ns := range []string{manager.DefaultNamespace, nodeLeaseNamespace} {
		err := cp.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// stop stops kube-apiserver and etcd.
func (cp *controlPlane) stop() error {
	return cp.env.Stop()
}

// crdDirectory finds config/crd/bases from this source file, so the benchmark runs from any
// working directory of the repository.
func crdDirectory() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "config", "crd", "bases")
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	if _, err := os.Stat(filepath.Join("config", "crd", "bases")); err == nil {
		return filepath.Join("config", "crd", "bases"), nil
	}
	return "", errors.New("cannot find config/crd/bases: run the benchmark from the repository")
}
