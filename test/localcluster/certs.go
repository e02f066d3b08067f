package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's certificates and keys, written as PEM files into a directory.
type pki struct {
	dir string
	// ca and caSigner sign the certificates Issue issues too.
	ca       *x509.Certificate
	caSigner *ecdsa.PrivateKey
	serial   int64
	// CA signs the serving and client certificates; the API server trusts clients it signed.
	caCert, caKey string
	// Serving certificate of the API server, for 127.0.0.1 and localhost.
	servingCert, servingKey string
	// Client certificate of the cluster admin (group system:masters).
	adminCert, adminKey string
	// Client certificate with which the API server calls kubelets (logs, exec, port-forward).
	kubeletClientCert, kubeletClientKey string
	// Service-account token signing key pair.
	saKey, saPub string
}

// newPKI generates a throwaway CA and the certificates a local cluster needs, valid for a day:
// the API server's serving certificate is valid for 127.0.0.1, for the kubernetes Service's
// cluster IP and for the extra addresses serving lists.
func newPKI(dir string, serving []net.IP) (*pki, error) {
	p := &pki{dir: dir}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "innkeeper-localcluster-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	if p.caCert, p.caKey, err = p.write("ca", caDER, caKey); err != nil {
		return nil, err
	}
	p.ca, p.caSigner, p.serial = ca, caKey, 1

	if p.servingCert, p.servingKey, err = p.issue("serving", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(kubernetesServiceIP)}, serving...),
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}); err != nil {
		return nil, err
	}
	if p.adminCert, p.adminKey, err = p.issue("admin", clientCert("admin", "system:masters")); err != nil {
		return nil, err
	}
	if p.kubeletClientCert, p.kubeletClientKey, err = p.issue("kubelet-client",
		clientCert("kube-apiserver-kubelet-client", "system:masters")); err != nil {
		return nil, err
	}

	// Service-account tokens are signed with RSA, which every Kubernetes version accepts.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p.saKey = filepath.Join(dir, "sa.key")
	if err := writePEM(p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	p.saPub = filepath.Join(dir, "sa.pub")
	if err := writePEM(p.saPub, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	return p, nil
}

// clientCert is the template of a client certificate for user cn in groups orgs.
func clientCert(cn string, orgs ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// issue signs tmpl with the CA, with a new key, valid as long as the CA, and writes both as
// name.crt and name.key.
func (p *pki) issue(name string, tmpl *x509.Certificate) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = p.ca.NotBefore, p.ca.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caSigner)
	if err != nil {
		return "", "", fmt.Errorf("create %s certificate: %w", name, err)
	}
	return p.write(name, der, key)
}

// write stores a certificate and its ECDSA key as name.crt and name.key.
func (p *pki) write(name string, der []byte, key *ecdsa.PrivateKey) (string, string, error) {
	certPath, keyPath := filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func writePEM(path, blockType string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600)
}
