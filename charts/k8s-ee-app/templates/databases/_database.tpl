{{/*
One database: a Secret with per-PR credentials (kept across upgrades through `lookup`), a ClusterIP Service, and
a single-replica StatefulSet with its own volume, all PSS restricted as written.
Called with (dict "root" $ "name" "postgresql").
*/}}

{{- define "app.db.secretName" -}}
{{- printf "%s-%s" (include "app.fullname" .root) .name -}}
{{- end -}}

{{/* A credential kept from the existing Secret, else a fresh random one. */}}
{{- define "app.db.keep" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "app.db.secretName" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/* Facts about each database: UID/GID the official image runs as, port, data path, scratch directories. */}}
{{- define "app.db.facts" -}}
{{- $facts := dict
  "postgresql" (dict "uid" 70 "gid" 70 "port" 5432 "data" "/var/lib/postgresql/data" "scratch" (list "/var/run/postgresql" "/tmp"))
  "mariadb" (dict "uid" 999 "gid" 999 "port" 3306 "data" "/var/lib/mysql" "scratch" (list "/run/mysqld" "/tmp"))
  "mongodb" (dict "uid" 999 "gid" 999 "port" 27017 "data" "/data/db" "scratch" (list "/data/configdb" "/tmp"))
  "redis" (dict "uid" 999 "gid" 1000 "port" 6379 "data" "/data" "scratch" (list "/tmp"))
  "minio" (dict "uid" 1000 "gid" 1000 "port" 9000 "data" "/data" "scratch" (list "/tmp"))
-}}
{{- toJson (index $facts .) -}}
{{- end -}}

{{- define "app.db.secret" -}}
{{- $cfg := index .root.Values.databases .name -}}
{{- $facts := include "app.db.facts" .name | fromJson -}}
{{- $host := printf "%s.%s.svc" (include "app.db.secretName" .) .root.Release.Namespace -}}
{{- $password := include "app.db.keep" (merge (dict "key" "password") .) -}}
{{- $user := default "default" $cfg.username -}}
{{- $db := default "" $cfg.database -}}
{{- $port := int $facts.port -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "app.db.secretName" . }}
  labels:
    {{- include "app.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
type: Opaque
stringData:
  username: {{ $user | quote }}
  password: {{ $password | quote }}
  database: {{ $db | quote }}
  host: {{ $host | quote }}
  port: {{ $port | quote }}
  {{- if eq .name "postgresql" }}
  url: {{ printf "postgresql://%s:%s@%s:%d/%s" $user $password $host $port $db | quote }}
  {{- else if eq .name "mariadb" }}
  root-password: {{ include "app.db.keep" (merge (dict "key" "root-password") .) | quote }}
  url: {{ printf "mysql://%s:%s@%s:%d/%s" $user $password $host $port $db | quote }}
  {{- else if eq .name "mongodb" }}
  url: {{ printf "mongodb://%s:%s@%s:%d/%s?authSource=admin" $user $password $host $port $db | quote }}
  {{- else if eq .name "redis" }}
  url: {{ printf "redis://:%s@%s:%d/0" $password $host $port | quote }}
  {{- else if eq .name "minio" }}
  url: {{ printf "http://%s:%d" $host $port | quote }}
  {{- end }}
{{- end -}}

{{- define "app.db.service" -}}
{{- $facts := include "app.db.facts" .name | fromJson -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.db.secretName" . }}
  labels:
    {{- include "app.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  type: ClusterIP
  selector:
    {{- include "app.selectorLabels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
  ports:
    - { name: {{ .name }}, port: {{ int $facts.port }}, targetPort: {{ .name }}, protocol: TCP }
{{- end -}}

{{/* The environment of each database's container, from its Secret. */}}
{{- define "app.db.env" -}}
{{- $secret := include "app.db.secretName" . -}}
{{- $ref := printf "{ secretKeyRef: { name: %s, key: %%s } }" $secret -}}
{{- if eq .name "postgresql" }}
- { name: POSTGRES_USER, valueFrom: {{ printf $ref "username" }} }
- { name: POSTGRES_PASSWORD, valueFrom: {{ printf $ref "password" }} }
- { name: POSTGRES_DB, valueFrom: {{ printf $ref "database" }} }
- { name: PGDATA, value: /var/lib/postgresql/data/pgdata }
{{- else if eq .name "mariadb" }}
- { name: MARIADB_USER, valueFrom: {{ printf $ref "username" }} }
- { name: MARIADB_PASSWORD, valueFrom: {{ printf $ref "password" }} }
- { name: MARIADB_DATABASE, valueFrom: {{ printf $ref "database" }} }
- { name: MARIADB_ROOT_PASSWORD, valueFrom: {{ printf $ref "root-password" }} }
{{- else if eq .name "mongodb" }}
- { name: MONGO_INITDB_ROOT_USERNAME, valueFrom: {{ printf $ref "username" }} }
- { name: MONGO_INITDB_ROOT_PASSWORD, valueFrom: {{ printf $ref "password" }} }
- { name: MONGO_INITDB_DATABASE, valueFrom: {{ printf $ref "database" }} }
{{- else if eq .name "redis" }}
- { name: REDIS_PASSWORD, valueFrom: {{ printf $ref "password" }} }
{{- else if eq .name "minio" }}
- { name: MINIO_ROOT_USER, valueFrom: {{ printf $ref "username" }} }
- { name: MINIO_ROOT_PASSWORD, valueFrom: {{ printf $ref "password" }} }
- { name: HOME, value: /tmp }
- { name: MINIO_BROWSER, value: "off" }
{{- end }}
{{- end -}}

{{- define "app.db.command" -}}
{{- if eq .name "mongodb" }}
args: [--wiredTigerCacheSizeGB, "0.25"]
{{- else if eq .name "redis" }}
args: [redis-server, --requirepass, $(REDIS_PASSWORD), --appendonly, "yes", --dir, /data]
{{- else if eq .name "minio" }}
args: [server, /data, --address, ":9000", --certs-dir, /tmp/certs]
{{- end }}
{{- end -}}

{{- define "app.db.probe" -}}
{{- if eq .name "postgresql" }}
exec: { command: [sh, -c, 'pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'] }
{{- else if eq .name "minio" }}
httpGet: { path: /minio/health/ready, port: minio }
{{- else }}
tcpSocket: { port: {{ .name }} }
{{- end }}
{{- end -}}

{{- define "app.db.statefulset" -}}
{{- $cfg := index .root.Values.databases .name -}}
{{- $facts := include "app.db.facts" .name | fromJson -}}
{{- $fullname := include "app.db.secretName" . -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "app.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .name }}
spec:
  replicas: 1
  serviceName: {{ $fullname }}
  persistentVolumeClaimRetentionPolicy: { whenDeleted: Delete, whenScaled: Delete }
  selector:
    matchLabels:
      {{- include "app.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .name }}
  template:
    metadata:
      labels:
        {{- include "app.selectorLabels" .root | nindent 8 }}
        app.kubernetes.io/component: {{ .name }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "app.podSecurityContext" (dict "uid" (int $facts.uid) "gid" (int $facts.gid)) | nindent 8 }}
      containers:
        - name: {{ .name }}
          image: {{ $cfg.image | quote }}
          imagePullPolicy: IfNotPresent
          {{- include "app.db.command" . | nindent 10 }}
          env:
            {{- include "app.db.env" . | nindent 12 }}
          ports:
            - { name: {{ .name }}, containerPort: {{ int $facts.port }}, protocol: TCP }
          readinessProbe:
            {{- include "app.db.probe" . | nindent 12 }}
            initialDelaySeconds: 5
            periodSeconds: 5
          livenessProbe:
            {{- include "app.db.probe" . | nindent 12 }}
            initialDelaySeconds: 30
            periodSeconds: 20
            failureThreshold: 6
          securityContext:
            {{- include "app.containerSecurityContext" (dict "readOnly" false) | nindent 12 }}
          resources:
            {{- toYaml $cfg.resources | nindent 12 }}
          volumeMounts:
            - { name: data, mountPath: {{ $facts.data }} }
            {{- range $i, $path := $facts.scratch }}
            - { name: scratch-{{ $i }}, mountPath: {{ $path }} }
            {{- end }}
      volumes:
        {{- range $i, $path := $facts.scratch }}
        - name: scratch-{{ $i }}
          emptyDir: { sizeLimit: 256Mi }
        {{- end }}
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "app.selectorLabels" .root | nindent 10 }}
          app.kubernetes.io/component: {{ .name }}
      spec:
        accessModes: [ReadWriteOnce]
        {{- with $cfg.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $cfg.storage }}
{{- end -}}

{{- define "app.database" -}}
{{- if (index .root.Values.databases .name).enabled }}
{{ include "app.db.secret" . }}
---
{{ include "app.db.service" . }}
---
{{ include "app.db.statefulset" . }}
{{- end }}
{{- end -}}
