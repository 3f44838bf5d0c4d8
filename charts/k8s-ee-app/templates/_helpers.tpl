{{/* Names: objects are named after the release (one release per PR namespace). */}}
{{- define "app.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "app.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "app.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: k8s-ee-preview
{{- end -}}

{{/* The environment's host: {namespace}.{previewDomain}. */}}
{{- define "app.host" -}}
{{- printf "%s.%s" .Release.Namespace .Values.previewDomain -}}
{{- end -}}

{{/* The databases in their fixed order (policies/config.ts DATABASES). */}}
{{- define "app.databaseNames" -}}
postgresql,mariadb,mongodb,redis,minio
{{- end -}}

{{- define "app.enabledDatabases" -}}
{{- $enabled := list -}}
{{- range (include "app.databaseNames" . | splitList ",") -}}
{{- if (index $.Values.databases .).enabled -}}
{{- $enabled = append $enabled . -}}
{{- end -}}
{{- end -}}
{{- join "," $enabled -}}
{{- end -}}

{{/* PSS restricted, as written (the webhook need not add anything). */}}
{{- define "app.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "app.containerSecurityContext" -}}
allowPrivilegeEscalation: false
runAsNonRoot: true
readOnlyRootFilesystem: {{ .readOnly }}
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
