{{/*
The prefix of every object's name: "innkeeper", or fullnameOverride. It does not depend on the
release's name: innkeeper's ClusterRoles and admission policy are cluster-wide, one per cluster.
*/}}
{{- define "innkeeper.fullname" -}}
{{- default .Chart.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "innkeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the manager's pods; they never change across upgrades. */}}
{{- define "innkeeper.managerSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "innkeeper.managerServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-manager" (include "innkeeper.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The node agents' ServiceAccounts, one per component, which the manager names in the DaemonSets it
renders. The agents' admission policy tells the components apart by the suffixes -kubelet-agent and
-containerd-agent: keep them.
*/}}
{{- define "innkeeper.kubeletAgentServiceAccountName" -}}
{{- printf "%s-kubelet-agent" (include "innkeeper.fullname" .) -}}
{{- end -}}

{{- define "innkeeper.containerdAgentServiceAccountName" -}}
{{- printf "%s-containerd-agent" (include "innkeeper.fullname" .) -}}
{{- end -}}

{{/* kube-proxy's ServiceAccount, which the manager names in the Concierge DaemonSets. */}}
{{- define "innkeeper.kubeProxyServiceAccountName" -}}
{{- printf "%s-kube-proxy" (include "innkeeper.fullname" .) -}}
{{- end -}}

{{- define "innkeeper.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "innkeeper.agentImage" -}}
{{- $repository := default .Values.image.repository .Values.agent.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.agent.image.tag -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
