{{/*
The webhook entries, the same as webhooks/registration.ts builds (a test renders both and compares them).
Namespace webhooks select by name with a CEL matchCondition on object.metadata.name; namespaced ones with
request.namespace (and a namespaceSelector that skips the excluded namespaces before any CEL runs).
*/}}
{{/* The namespace and the subresources that write its metadata (finalize, status): labels and pins are judged there too. */}}
{{- define "k8s-ee.namespaceRules" -}}
- { apiGroups: [""], apiVersions: ["*"], resources: [namespaces], operations: [CREATE, UPDATE], scope: "*" }
- { apiGroups: [""], apiVersions: ["*"], resources: [namespaces/finalize, namespaces/status], operations: [UPDATE], scope: "*" }
{{- end -}}

{{- define "k8s-ee.podRules" -}}
- { apiGroups: [""], apiVersions: ["*"], resources: [pods, replicationcontrollers, podtemplates], operations: [CREATE, UPDATE], scope: "*" }
- { apiGroups: [apps], apiVersions: ["*"], resources: [deployments, statefulsets, daemonsets, replicasets], operations: [CREATE, UPDATE], scope: "*" }
- { apiGroups: [batch], apiVersions: ["*"], resources: [jobs, cronjobs], operations: [CREATE, UPDATE], scope: "*" }
{{- end -}}

{{- define "k8s-ee.webhookEntry" -}}
{{- $ := .root -}}
- name: {{ .name }}
  admissionReviewVersions: [v1]
  clientConfig:
    service:
      namespace: {{ $.Release.Namespace }}
      name: {{ include "k8s-ee.fullname" $ }}
      path: {{ .path }}
      port: 443
    {{- with include "k8s-ee.caBundle" $ }}
    caBundle: {{ . }}
    {{- end }}
  rules:
    {{- .rules | nindent 4 }}
  failurePolicy: Fail
  matchPolicy: Equivalent
  sideEffects: {{ .sideEffects }}
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  matchConditions:
    {{- if eq .subject "namespace-object" }}
    - name: pr-namespace
      expression: {{ printf "object.metadata.name.matches(%s) && !(object.metadata.name in [%s])" (include "k8s-ee.celPattern" $) (include "k8s-ee.excludedNamespacesCel" $) | quote }}
    {{- else }}
    - name: pr-namespace
      expression: {{ printf "request.namespace.matches(%s) && !(request.namespace in [%s])" (include "k8s-ee.celPattern" $) (include "k8s-ee.excludedNamespacesCel" $) | quote }}
    {{- end }}
    {{- with .extraConditions }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- if eq .subject "namespaced" }}
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values: {{ include "k8s-ee.excludedNamespaces" $ }}
  {{- end }}
  {{- with .reinvocationPolicy }}
  reinvocationPolicy: {{ . }}
  {{- end }}
{{- end -}}

{{/*
k8s-ee's own writes skip the calls whose answer to them is always "allowed, unchanged": the baseline guard (the
reconciler and the gate write baseline objects) and the namespace entries (the reconciler stamps and repairs
namespace labels; it puts back any managed label itself). Saves two to nine webhook calls per new namespace.
*/}}
{{- define "k8s-ee.notSelfCondition" -}}
{{- $self := printf "system:serviceaccount:%s:%s" .Release.Namespace (include "k8s-ee.serviceAccountName" .) -}}
{{- printf "- name: not-k8s-ee-itself\n  expression: %s" (printf "request.userInfo.username != '%s'" $self | quote) -}}
{{- end -}}
