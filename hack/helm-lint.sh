#!/usr/bin/env bash
# Lints and renders the chart (charts/innkeeper) with its default values and with
# ci/nondefault-values.yaml, checks what a few values render to, and checks that values.schema.json
# rejects bad values with a message naming the value. Fails on the first problem.
#
#   hack/helm-lint.sh HELM     # HELM: the helm binary (make helm-lint builds it)
set -euo pipefail

helm=${1:?usage: hack/helm-lint.sh HELM}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
chart=charts/innkeeper
nondefault=$chart/ci/nondefault-values.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

fail() {
	echo "helm-lint: $*" >&2
	exit 1
}

"$helm" lint --strict "$chart"
"$helm" lint --strict "$chart" -f "$nondefault"
"$helm" template innkeeper "$chart" --namespace innkeeper-system >"$out/default.yaml"
"$helm" template innkeeper "$chart" --namespace ops -f "$nondefault" >"$out/nondefault.yaml"

# What the values must render to: grep for lines that only the right rendering has.
expect() {
	local file=$1 line=$2
	grep -qxF -- "$line" "$out/$file" || fail "$file: no line '$line'"
}
expect_not() {
	local file=$1 pattern=$2
	! grep -qE -- "$pattern" "$out/$file" || fail "$file: unexpected '$pattern'"
}
# The default image is the one make image builds: the chart's appVersion is the Makefile's VERSION.
expect default.yaml "        image: \"ghcr.io/innkeeper-dev/innkeeper:$(make -s --no-print-directory version)\""
# The rollout pods' pull secrets and resources reach the manager, defaults included (empty: none).
expect default.yaml '        - "--agent-resources={\"limits\":{\"memory\":\"128Mi\"},\"requests\":{\"cpu\":\"10m\",\"memory\":\"32Mi\"}}"'
expect default.yaml '        - "--kube-proxy-resources={\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}"'
expect default.yaml '        - "--image-pull-secrets="'
expect nondefault.yaml '        - "--image-pull-secrets=registry-example,kube-proxy-mirror"'
expect nondefault.yaml '        - "--agent-resources={\"limits\":{\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"20m\",\"memory\":\"48Mi\"}}"'
expect nondefault.yaml '        - "--kube-proxy-resources={\"limits\":{\"memory\":\"512Mi\"},\"requests\":{\"cpu\":1,\"memory\":\"128Mi\"}}"'
expect default.yaml "  replicas: 2"
expect default.yaml "        - --leader-elect=true"
expect default.yaml "        - --leader-elect-lease-duration=5s"
expect default.yaml "        - --leader-elect-renew-deadline=3s"
expect default.yaml "        - --leader-elect-retry-period=1s"
expect default.yaml "              fieldPath: metadata.name"
# One ServiceAccount per node agent's component, each in the admission policy that keeps it to its
# own component's annotations.
expect default.yaml "        - --kubelet-agent-service-account=innkeeper-kubelet-agent"
expect default.yaml "        - --containerd-agent-service-account=innkeeper-containerd-agent"
expect_not default.yaml "--agent-service-account"
expect default.yaml "        - --kube-proxy-service-account=innkeeper-kube-proxy"
# The node pods' scheduling is always passed, defaults included: "" and [] must reach the manager.
expect default.yaml '        - "--agent-priority-class=system-node-critical"'
expect default.yaml '        - "--agent-tolerations=[{\"operator\":\"Exists\"}]"'
expect default.yaml "          readOnlyRootFilesystem: true"
expect default.yaml "          allowPrivilegeEscalation: false"
expect default.yaml "        runAsNonRoot: true"
expect default.yaml "          type: RuntimeDefault"
expect default.yaml "      request.userInfo.username in ['system:serviceaccount:innkeeper-system:innkeeper-kubelet-agent', 'system:serviceaccount:innkeeper-system:innkeeper-containerd-agent']"
expect_not default.yaml "kind: ServiceMonitor"
expect default.yaml "kind: PodDisruptionBudget"
expect default.yaml "  maxUnavailable: 1"
expect nondefault.yaml "  replicas: 3"
expect nondefault.yaml "        - --leader-elect-lease-duration=15s"
expect nondefault.yaml "        - --leader-elect-renew-deadline=10s"
expect nondefault.yaml "        - --leader-elect-retry-period=2s"
expect nondefault.yaml "        image: \"registry.example.com/platform/innkeeper:v0.1.0\""
expect nondefault.yaml "        - --agent-image=registry.example.com/platform/innkeeper-agent:v0.1.0-agent"
expect nondefault.yaml "        - --kube-proxy-image=registry.k8s.io/kube-proxy:v1.37.2"
expect nondefault.yaml "        - --kube-proxy-api-server=https://10.0.0.10:6443"
expect nondefault.yaml '        - "--agent-priority-class=innkeeper-node"'
expect nondefault.yaml '        - "--agent-tolerations=[{\"effect\":\"NoSchedule\",\"key\":\"example.com/gpu\",\"operator\":\"Equal\",\"value\":\"true\"},{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"tolerationSeconds\":300}]"'
expect nondefault.yaml "      serviceAccountName: platform-innkeeper"
expect nondefault.yaml "      request.userInfo.username in ['system:serviceaccount:ops:hotel-kubelet-agent', 'system:serviceaccount:ops:hotel-containerd-agent']"
expect nondefault.yaml "        - --kubelet-agent-service-account=hotel-kubelet-agent"
expect nondefault.yaml "        - --containerd-agent-service-account=hotel-containerd-agent"
expect nondefault.yaml "kind: ServiceMonitor"
# A metrics certificate from a Secret: mounted, passed, and what the ServiceMonitor verifies against.
expect nondefault.yaml "        - --metrics-cert-path=/etc/innkeeper/metrics-certs"
expect nondefault.yaml "          secretName: innkeeper-metrics-tls"
expect nondefault.yaml "          name: innkeeper-metrics-tls"
expect nondefault.yaml "      serverName: hotel-metrics.ops.svc"
expect_not nondefault.yaml "insecureSkipVerify"
expect_not default.yaml "metrics-cert"
expect nondefault.yaml "  maxUnavailable: 50%"
expect nondefault.yaml "      topologySpreadConstraints:"
count() {
	local file=$1 line=$2 want=$3 got
	got=$(grep -cxF -- "$line" "$out/$file" || true)
	[[ $got -eq $want ]] || fail "$file: $got lines '$line', want $want"
}
# Metrics off, or over plain HTTP: the flags, the container's ports and the Service agree.
"$helm" template innkeeper "$chart" --namespace innkeeper-system --set metrics.enabled=false >"$out/nometrics.yaml"
"$helm" template innkeeper "$chart" --namespace innkeeper-system --set metrics.secure=false --set metrics.port=8080 >"$out/insecure.yaml"
expect nometrics.yaml "        - --metrics-bind-address=0"
expect_not nometrics.yaml "name: metrics"
expect_not nometrics.yaml "innkeeper-metrics"
expect insecure.yaml "        - --metrics-bind-address=:8080"
expect insecure.yaml "        - --metrics-secure=false"
expect insecure.yaml "          containerPort: 8080"
expect insecure.yaml "    targetPort: metrics"
expect insecure.yaml "  - name: http"
# A ServiceMonitor without a metrics certificate cannot verify the self-signed one; a tlsConfig
# of the user's own is used as given.
"$helm" template innkeeper "$chart" --set metrics.serviceMonitor.enabled=true >"$out/monitor.yaml"
"$helm" template innkeeper "$chart" --set metrics.serviceMonitor.enabled=true --set metrics.certSecret=tls \
	--set metrics.serviceMonitor.tlsConfig.serverName=metrics.example.com >"$out/monitor-tls.yaml"
expect monitor.yaml "      insecureSkipVerify: true"
expect monitor-tls.yaml "      serverName: metrics.example.com"
expect_not monitor-tls.yaml "insecureSkipVerify|ca.crt"
# A single replica without leader election is fine.
"$helm" template innkeeper "$chart" --set manager.leaderElection=false --set manager.replicas=1 >"$out/single.yaml"
expect single.yaml "        - --leader-elect=false"
expect single.yaml "    type: Recreate"
expect_not single.yaml "--leader-elect-lease-duration"
expect_not default.yaml "type: Recreate"
# An image pinned by digest, from a registry named by its IPv6 address.
"$helm" template innkeeper "$chart" --set 'image.repository=[fd00::1]:5000/innkeeper' \
	--set "image.tag=v0.1.0@sha256:$(printf '0%.0s' {1..64})" >"$out/digest.yaml"
expect digest.yaml "        image: \"[fd00::1]:5000/innkeeper:v0.1.0@sha256:$(printf '0%.0s' {1..64})\""
# Concierge take-over: off by default, so the manager may update DaemonSets only in its namespace
# (its ClusterRole only reads them); on, a Role and RoleBinding in each namespace named, and the flag
# naming them.
expect_not default.yaml "take-over"
"$helm" template innkeeper "$chart" --namespace innkeeper-system --set concierge.takeOver.enabled=true >"$out/takeover.yaml"
expect takeover.yaml '        - "--take-over-namespaces=kube-system"'
count takeover.yaml "  name: innkeeper-take-over" 3
count takeover.yaml "  namespace: kube-system" 2
count takeover.yaml "  verbs: [update]" 1
expect takeover.yaml "  name: innkeeper-manager"
expect nondefault.yaml '        - "--take-over-namespaces=kube-system,networking"'
count nondefault.yaml "  name: hotel-take-over" 6
count nondefault.yaml "  namespace: networking" 2
# serviceAccount.create=false: only the agents' (one per component) and kube-proxy's ServiceAccounts.
count default.yaml "kind: ServiceAccount" 4
count nondefault.yaml "kind: ServiceAccount" 3
# Each agent's ServiceAccount is bound to the agents' ClusterRole.
count default.yaml "  name: innkeeper-agent" 3

# The alerts and the dashboard: rendered into the namespace the user names, every expression parses as
# Prometheus parses it and selects only metrics that exist (innkeeper's own names are checked against
# the code by internal/pool's TestChartMonitoringNamesTheManagersMetrics).
"$helm" template innkeeper "$chart" --namespace ops --set metrics.prometheusRule.enabled=true \
	--set metrics.grafanaDashboard.enabled=true --set metrics.grafanaDashboard.namespace=grafana >"$out/monitoring.yaml"
expect monitoring.yaml "kind: PrometheusRule"
expect monitoring.yaml '      expr: absent(up{job="innkeeper-metrics", namespace="ops"} == 1)'
expect monitoring.yaml "  namespace: grafana"
expect monitoring.yaml '    grafana_dashboard: "1"'
expect_not default.yaml "PrometheusRule|grafana_dashboard"
(cd hack/promcheck && go run . --metrics='innkeeper_*,controller_runtime_*,workqueue_*,up') <"$out/monitoring.yaml"

# The agents' PodMonitor authenticates with the token Secret it is given.
"$helm" template innkeeper "$chart" --set metrics.agentPodMonitor.enabled=true \
	--set metrics.agentPodMonitor.tokenSecret.name=prometheus-token >"$out/agents.yaml"
expect agents.yaml "kind: PodMonitor"
expect agents.yaml "        name: prometheus-token"
expect agents.yaml "  - port: metrics"
expect_not default.yaml "kind: PodMonitor"

# Bad values must fail with a message that names them.
reject() {
	local want=$1
	shift
	local msg
	if msg=$("$helm" template innkeeper "$chart" "$@" 2>&1); then
		fail "values.schema.json accepted $*"
	fi
	grep -qF -- "$want" <<<"$msg" || fail "values $* failed without naming $want: $msg"
	echo "helm-lint: rejected as expected: $* -> $(grep -F -- "$want" <<<"$msg" | head -1 | sed 's/^[- ]*//')"
}
reject "/agent/resources" --set agent.resources.request.cpu=10m
reject "/kubeProxy/resources" --set kubeProxy.resources.claims[0].name=gpu
reject "/imagePullSecrets/0/name" --set imagePullSecrets[0].name=My_Registry
reject "/manager/replicas" --set manager.replicas=two
reject "/manager/replicas" --set manager.replicas=-1
reject "/image/pullPolicy" --set image.pullPolicy=Sometimes
reject "'managr' not allowed" --set managr.replicas=1
reject "/serviceAccount/name" --set serviceAccount.create=false
reject "/metrics/port" --set metrics.port=70000
reject "/manager/podDisruptionBudget/maxUnavailable" --set manager.podDisruptionBudget.maxUnavailable=0
reject "/kubeProxy/apiServer" --set kubeProxy.apiServer=10.0.0.10:6443
reject "/agent/priorityClassName" --set agent.priorityClassName=Node_Critical
reject "at '/agent/tolerations/0/operator': value must be one of 'Exists', 'Equal'" --set "agent.tolerations[0].key=a" --set "agent.tolerations[0].operator=Maybe"
reject "at '/agent/tolerations/0/value': value must be ''" --set "agent.tolerations[0].operator=Exists" --set "agent.tolerations[0].value=x"
reject "'tolerationSecs' not allowed" --set "agent.tolerations[0].operator=Exists" --set "agent.tolerations[0].tolerationSecs=60"
reject "metrics.serviceMonitor.enabled needs metrics.enabled" --set metrics.enabled=false --set metrics.serviceMonitor.enabled=true
reject "'nam' not allowed" --set "imagePullSecrets[0].nam=registry"
reject "/image/repository" --set image.repository=
reject "/image/repository" --set image.repository=Registry.example.com/Platform/Innkeeper
reject "/image/tag" --set image.tag=v1:latest
reject "/agent/image/tag" --set agent.image.tag=a:b
reject "/serviceAccount/name" --set serviceAccount.create=false --set serviceAccount.name=bad_name
reject "/manager/priorityClassName" --set manager.priorityClassName=Bad_Name
reject "manager.leaderElection=false needs manager.replicas of 0 or 1" --set manager.leaderElection=false
reject "metrics.port and manager.healthProbePort must differ" --set metrics.port=8081
reject "metrics.prometheusRule and metrics.grafanaDashboard need metrics.enabled" --set metrics.enabled=false --set metrics.prometheusRule.enabled=true
reject "/metrics/prometheusRule/stalledFor" --set metrics.prometheusRule.stalledFor=10min
reject "metrics.certSecret needs metrics.enabled and metrics.secure" --set metrics.secure=false --set metrics.certSecret=tls
reject "/metrics/certSecret" --set metrics.certSecret=Bad_Name
reject "/metrics/agentPodMonitor/tokenSecret/name" --set metrics.agentPodMonitor.enabled=true
reject "metrics.agentPodMonitor.enabled needs metrics.enabled and metrics.secure" --set metrics.secure=false \
	--set metrics.agentPodMonitor.enabled=true --set metrics.agentPodMonitor.tokenSecret.name=t
reject "concierge.takeOver.enabled needs at least one namespace in concierge.takeOver.namespaces" \
	--set concierge.takeOver.enabled=true --set-json 'concierge.takeOver.namespaces=[]'
reject "/concierge/takeOver/namespaces/0" --set concierge.takeOver.enabled=true --set 'concierge.takeOver.namespaces[0]=Kube_System'
reject "/concierge/takeOver/namespaces/0" --set 'concierge.takeOver.namespaces[0]=*'
reject "/concierge/takeOver/namespaces" --set-json 'concierge.takeOver.namespaces=["kube-system","kube-system"]'
reject "'takeover' not allowed" --set concierge.takeover.enabled=true
reject "/manager/leaderElectionTiming/leaseDurationSeconds" --set manager.leaderElectionTiming.leaseDurationSeconds=5s
reject "/manager/leaderElectionTiming/retryPeriodSeconds" --set manager.leaderElectionTiming.retryPeriodSeconds=0
reject "leaseDurationSeconds must be more than renewDeadlineSeconds + retryPeriodSeconds" --set manager.leaderElectionTiming.leaseDurationSeconds=4
reject "renewDeadlineSeconds must be more than 1.2 × retryPeriodSeconds" --set manager.leaderElectionTiming.retryPeriodSeconds=3 \
	--set manager.leaderElectionTiming.leaseDurationSeconds=10

echo "helm-lint: the chart lints and renders with default and non-default values; bad values are rejected"
