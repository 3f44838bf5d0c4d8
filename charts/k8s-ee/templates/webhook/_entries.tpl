{{/*
The webhook entries, the same as webhooks/registration.ts builds (a test renders both and compares them).
Namespace webhooks select by name with a CEL matchCondition on object.metadata.name; namespaced ones by k8s-ee's
label or, where it is missing, by request.namespace in CEL (see k8s-ee.webhookEntry); a namespaceSelector skips the
excluded namespaces before any CEL runs.
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

{{/*
One purpose's entries: one for a namespace webhook; for a namespaced one a pair whose namespaceSelectors split every
namespace by k8s-ee's own label: "labelled" (k8s-ee.io/managed In [true], no CEL) and "by-name" (NotIn [true], with
the CEL condition on request.namespace), named <purpose>.by-name.<...>. Why (webhooks/registration.ts): the API server
converts the whole object for every entry whose matchConditions it evaluates, ~0.6 ms of its CPU per pod write.
*/}}
{{- define "k8s-ee.webhookEntry" -}}
{{- if eq .subject "namespace-object" -}}
{{- include "k8s-ee.webhookEntryOne" (merge (dict "selection" "") .) -}}
{{- else -}}
{{- include "k8s-ee.webhookEntryOne" (merge (dict "selection" "labelled") .) }}
{{ include "k8s-ee.webhookEntryOne" (merge (dict "selection" "by-name") .) -}}
{{- end -}}
{{- end -}}

{{- define "k8s-ee.webhookEntryOne" -}}
{{- $ := .root -}}
{{- $name := .name -}}
{{- if eq .selection "by-name" -}}
{{- $parts := splitn "." 2 .name -}}
{{- $name = printf "%s.by-name.%s" $parts._0 $parts._1 -}}
{{- end -}}
- name: {{ $name }}
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
  {{- if or (ne .selection "labelled") .extraConditions }}
  matchConditions:
    {{- if eq .subject "namespace-object" }}
    - name: pr-namespace
      expression: {{ printf "object.metadata.name.matches(%s) && !(object.metadata.name in [%s])" (include "k8s-ee.celPattern" $) (include "k8s-ee.excludedNamespacesCel" $) | quote }}
    {{- else if eq .selection "by-name" }}
    - name: pr-namespace
      expression: {{ printf "request.namespace.matches(%s) && !(request.namespace in [%s])" (include "k8s-ee.celPattern" $) (include "k8s-ee.excludedNamespacesCel" $) | quote }}
    {{- end }}
    {{- with .extraConditions }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- if .selection }}
  namespaceSelector:
    matchExpressions:
      - key: k8s-ee.io/managed
        operator: {{ if eq .selection "labelled" }}In{{ else }}NotIn{{ end }}
        values: ["true"]
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
