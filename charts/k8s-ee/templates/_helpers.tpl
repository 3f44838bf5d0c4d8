{{/* Names */}}
{{- define "k8s-ee.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "k8s-ee.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "k8s-ee.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "k8s-ee.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "k8s-ee.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "k8s-ee.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "k8s-ee.certSecretName" -}}
{{- default (printf "%s-tls" (include "k8s-ee.fullname" .)) .Values.certs.secretName -}}
{{- end -}}

{{- define "k8s-ee.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Labels */}}
{{- define "k8s-ee.selectorLabels" -}}
app.kubernetes.io/name: {{ include "k8s-ee.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "k8s-ee.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "k8s-ee.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: k8s-ee
{{- end -}}

{{/* The k8s-ee configuration: the values' config with selfUser defaulting to this release's ServiceAccount. */}}
{{- define "k8s-ee.config" -}}
{{- $self := printf "system:serviceaccount:%s:%s" .Release.Namespace (include "k8s-ee.serviceAccountName" .) -}}
{{- $config := merge (deepCopy (default dict .Values.config)) (dict "selfUser" $self) -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The managed-namespace pattern (policies/config.ts default unless config.namespacePattern is set). */}}
{{- define "k8s-ee.namespacePattern" -}}
{{- $default := "^(?<project>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-pr-(?<number>[1-9][0-9]*)$" -}}
{{- default $default (default dict .Values.config).namespacePattern -}}
{{- end -}}

{{/* A CEL string literal of a value: backslashes and single quotes escaped. */}}
{{- define "k8s-ee.celString" -}}
{{- printf "'%s'" (. | replace "\\" "\\\\" | replace "'" "\\'") -}}
{{- end -}}

{{/* The pattern for CEL (RE2 writes named groups as (?P<name>…)), as a CEL string literal. */}}
{{- define "k8s-ee.celPattern" -}}
{{- include "k8s-ee.celString" (regexReplaceAll "\\(\\?<([A-Za-z])" (include "k8s-ee.namespacePattern" .) "(?P<${1}") -}}
{{- end -}}

{{/* Namespaces never sent to the webhooks: kube-system, the release namespace, and configured ones. */}}
{{- define "k8s-ee.excludedNamespaces" -}}
{{- $list := concat (list "kube-system" .Release.Namespace) (default list .Values.webhook.excludeNamespaces) | uniq -}}
{{- toJson $list -}}
{{- end -}}

{{- define "k8s-ee.excludedNamespacesCel" -}}
{{- $out := list -}}
{{- range (include "k8s-ee.excludedNamespaces" . | fromJsonArray) -}}
{{- $out = append $out (include "k8s-ee.celString" .) -}}
{{- end -}}
{{- join ", " $out -}}
{{- end -}}

{{/* The CA injection annotation for cert-manager's cainjector. */}}
{{- define "k8s-ee.certManagerAnnotations" -}}
{{- if .Values.certManager.enabled }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "k8s-ee.fullname" .) }}
{{- end }}
{{- end -}}

{{/* caBundle kept across upgrades (self-managed): read from the serving Secret when it exists. */}}
{{- define "k8s-ee.caBundle" -}}
{{- if not .Values.certManager.enabled -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "k8s-ee.certSecretName" .) -}}
{{- if and $secret $secret.data (index $secret.data "ca.crt") -}}
{{- index $secret.data "ca.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Restricted container security context (PSS restricted, read-only root filesystem). */}}
{{- define "k8s-ee.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Downward-API identity of the pod (leader election identity, own namespace). */}}
{{- define "k8s-ee.podEnv" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
{{- end -}}

{{/* Arguments shared by `k8s-ee certs ensure` (init container) and `k8s-ee certs watch` (sidecar). */}}
{{- define "k8s-ee.certsArgs" -}}
- --namespace={{ .Release.Namespace }}
- --secret={{ include "k8s-ee.certSecretName" . }}
- --service={{ include "k8s-ee.fullname" . }}
- --webhook-configs={{ printf "mutating/%s,validating/%s" (include "k8s-ee.fullname" .) (include "k8s-ee.fullname" .) }}
- --cert-dir=/certs
- --validity={{ .Values.certs.validity }}
- --ca-validity={{ .Values.certs.caValidity }}
{{- end -}}
