{{/*
The pganalytics container's environment: plain settings go to the ConfigMap (envFrom), secrets
come from Secrets through secretKeyRef. Every name here is a variable of src/config.ts;
test/deploy/helm.test.ts parses the rendered environment with the service's own schema.
*/}}

{{/* Variables the chart sets from other values: refused in `config`, `secretEnv` and `extraEnv`. */}}
{{- define "pganalytics.managedVariables" -}}
{{- list "PGA_HOST" "PGA_PORT" "PGA_SHUTDOWN_GRACE" "PGA_SHUTDOWN_DELAY" "PGA_TRUSTED_PROXIES" "PGA_INSTANCE_HOSTS_ALLOW" "PGA_INSTANCE_HOSTS_DENY" "PGA_DATA_DIR" "DATABASE_URL" "PGA_DB_SSL" "PGA_DB_SSL_CA_FILE" "REDIS_URL" "PGA_REDIS_MODE" "PGA_REDIS_SENTINELS" "PGA_REDIS_SENTINEL_MASTER" "PGA_REDIS_CLUSTER_NODES" "PGA_REDIS_TLS_CA_FILE" "PGA_MASTER_KEY" "PGA_MASTER_KEY_FILE" | toJson }}
{{- end }}

{{/* Secrets: only from a Secret (`secretEnv`, or `extraEnv` with valueFrom), never in the ConfigMap. */}}
{{- define "pganalytics.secretVariables" -}}
{{- list "PGA_MASTER_KEY_PREVIOUS" "PGA_ADMIN_TOKEN" "PGA_ADMIN_PASSWORD" "PGA_S3_SECRET_ACCESS_KEY" "UPSTASH_REDIS_REST_TOKEN" | toJson }}
{{- end }}

{{/* The ConfigMap's data: the chart's own settings, then `config`. */}}
{{- define "pganalytics.configData" -}}
{{- $data := dict }}
{{- $_ := set $data "PGA_HOST" (toString .Values.http.host) }}
{{- $_ := set $data "PGA_PORT" (toString .Values.http.port) }}
{{- $_ := set $data "PGA_SHUTDOWN_GRACE" (printf "%ds" (int .Values.shutdown.graceSeconds)) }}
{{- /* The preStop sleep already keeps the pod serving while it leaves the endpoints; a delay on
top would push the drain past terminationGracePeriodSeconds. */}}
{{- $_ := set $data "PGA_SHUTDOWN_DELAY" "0s" }}
{{- with .Values.http.trustedProxies }}
{{- $_ := set $data "PGA_TRUSTED_PROXIES" (join "," .) }}
{{- end }}
{{- with .Values.instances.hostsAllow }}
{{- $_ := set $data "PGA_INSTANCE_HOSTS_ALLOW" (join "," .) }}
{{- end }}
{{- with .Values.instances.hostsDeny }}
{{- $_ := set $data "PGA_INSTANCE_HOSTS_DENY" (join "," .) }}
{{- end }}
{{- if include "pganalytics.embedded" . }}
{{- $_ := set $data "PGA_DATA_DIR" (include "pganalytics.dataDir" .) }}
{{- else if eq .Values.postgresql.mode "bundled" }}
{{- $_ := set $data "PGA_DB_SSL" "disable" }}
{{- else }}
{{- $_ := set $data "PGA_DB_SSL" .Values.postgresql.external.sslMode }}
{{- $ca := .Values.postgresql.external.caCert }}
{{- if or $ca.secretName $ca.configMapName }}
{{- $_ := set $data "PGA_DB_SSL_CA_FILE" (include "pganalytics.caFile" (dict "name" "postgresql" "ca" $ca)) }}
{{- end }}
{{- end }}
{{- if eq .Values.redis.mode "external" }}
{{- $redis := .Values.redis.external }}
{{- $_ := set $data "PGA_REDIS_MODE" $redis.topology }}
{{- if eq $redis.topology "sentinel" }}
{{- $_ := set $data "PGA_REDIS_SENTINELS" (join "," $redis.sentinels) }}
{{- $_ := set $data "PGA_REDIS_SENTINEL_MASTER" $redis.sentinelMaster }}
{{- end }}
{{- if and (eq $redis.topology "cluster") $redis.clusterNodes }}
{{- $_ := set $data "PGA_REDIS_CLUSTER_NODES" (join "," $redis.clusterNodes) }}
{{- end }}
{{- if or $redis.caCert.secretName $redis.caCert.configMapName }}
{{- $_ := set $data "PGA_REDIS_TLS_CA_FILE" (include "pganalytics.caFile" (dict "name" "redis" "ca" $redis.caCert)) }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- $_ := set $data $name (toString $value) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/* The container's `env`: secrets through secretKeyRef, then secretEnv and extraEnv. */}}
{{- define "pganalytics.env" -}}
{{- with include "pganalytics.databaseUrlSource" . }}
- name: DATABASE_URL
  {{- include "pganalytics.secretKeyRef" . | nindent 2 }}
{{- end }}
{{- with include "pganalytics.redisUrlSource" . }}
- name: REDIS_URL
  {{- include "pganalytics.secretKeyRef" . | nindent 2 }}
{{- end }}
{{- with include "pganalytics.masterKeySource" . }}
- name: PGA_MASTER_KEY
  {{- include "pganalytics.secretKeyRef" . | nindent 2 }}
{{- end }}
{{- range $name, $ref := .Values.secretEnv }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName | default (include "pganalytics.externalSecretName" $) }}
      key: {{ $ref.key }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
{{- if kindIs "map" $value }}
  {{- toYaml $value | nindent 2 }}
{{- else }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}
