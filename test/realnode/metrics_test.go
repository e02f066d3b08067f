//go:build realnode

package realnode_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// scraperToken returns a token of a ServiceAccount bound to the chart's metrics-reader ClusterRole,
// as a Prometheus would scrape with; status is what an unauthorized caller gets.
func scraperToken(bound bool) string {
	GinkgoHelper()
	name := "metrics-scraper"
	if !bound {
		name = "not-a-scraper"
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: localcluster.Namespace}}
	if _, err := clientset.CoreV1().ServiceAccounts(localcluster.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	if bound {
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: localcluster.Release + "-metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: localcluster.Namespace}}}
		if _, err := clientset.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
	tr, err := clientset.CoreV1().ServiceAccounts(localcluster.Namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// scrape GETs an agent's /metrics on a node's port with token, and returns the status and body.
func scrape(addr netip.Addr, port int, token string) (int, string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The agent's certificate is self-signed, as the manager's is by default.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a test of a self-signed server
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("https://%s/metrics", netip.AddrPortFrom(addr, uint16(port))), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// expectAgentMetrics scrapes the kubelet agent of every node, as Prometheus would, and expects the
// apply it made; a caller not bound to the metrics-reader ClusterRole is refused.
func expectAgentMetrics(port int) {
	GinkgoHelper()
	token, other := scraperToken(true), scraperToken(false)
	for _, n := range cluster.Nodes {
		Eventually(func(g Gomega) {
			status, body, err := scrape(n.Addr, port, token)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK), body)
			g.Expect(body).To(MatchRegexp(`innkeeper_agent_applies_total\{component="kubelet",result="(applied|unchanged)"\} [1-9]`))
			g.Expect(body).To(ContainSubstring(`innkeeper_agent_state{component="kubelet",state="Applied"} 1`))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), "the agent's metrics on %s:%s", n.Name, strconv.Itoa(port))
		status, _, err := scrape(n.Addr, port, other)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(http.StatusForbidden), "a caller not allowed GET /metrics read the agent's metrics on %s", n.Name)
	}
}
