{{/*
Names, labels and the values derived from other values (image, shutdown timing, Secret
references). Rules that refuse a values combination live in _validate.tpl; the container's
environment in _env.tpl.
*/}}

{{- define "pganalytics.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pganalytics.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pganalytics.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every object; pass a dict with "ctx" (the root) and "component". */}}
{{- define "pganalytics.labels" -}}
helm.sh/chart: {{ include "pganalytics.chart" .ctx }}
{{ include "pganalytics.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: pganalytics
{{- end }}

{{/* Selector labels; pass a dict with "ctx" and "component" (server, postgresql, redis). */}}
{{- define "pganalytics.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pganalytics.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pganalytics.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pganalytics.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest; pass an image values dict and the default tag. */}}
{{- define "pganalytics.imageRef" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .defaultTag }}
{{- end }}
{{- end }}

{{/* Embedded store: the one case where replicas would corrupt state (checked in _validate.tpl). */}}
{{- define "pganalytics.embedded" -}}
{{- if eq .Values.postgresql.mode "embedded" }}true{{ end }}
{{- end }}

{{/* Where the embedded store lives inside the pod (PGA_DATA_DIR). */}}
{{- define "pganalytics.dataDir" -}}/var/lib/pganalytics{{- end }}

{{/*
The pod's terminationGracePeriodSeconds, derived from shutdown.graceSeconds (PGA_SHUTDOWN_GRACE):
the preStop sleep runs first and counts against the period, then SIGTERM starts the grace, then the
margin covers closing the pools and exiting.
*/}}
{{- define "pganalytics.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.graceSeconds) (int .Values.shutdown.marginSeconds) }}
{{- end }}

{{- define "pganalytics.externalSecretName" -}}
{{- default (printf "%s-external" (include "pganalytics.fullname" .)) .Values.externalSecret.targetName }}
{{- end }}

{{/*
Where a secret value comes from, as "secretName/key" (or "" when nothing provides it). Pass a dict:
ctx, existing (the values' existingSecret), key, chartKey (non-empty when the chart's own Secret
holds it). Order: an existing Secret, the chart's Secret, the ExternalSecret's target.
*/}}
{{- define "pganalytics.secretSource" -}}
{{- if .existing -}}
{{ .existing }}/{{ .key }}
{{- else if .chartKey -}}
{{ include "pganalytics.fullname" .ctx }}/{{ .chartKey }}
{{- else if .ctx.Values.externalSecret.enabled -}}
{{ include "pganalytics.externalSecretName" .ctx }}/{{ .key }}
{{- end }}
{{- end }}

{{/* Does the chart's Secret generate the master key? (asked for, external or bundled store, no other source) */}}
{{- define "pganalytics.generatesMasterKey" -}}
{{- if and .Values.masterKey.generate (not (include "pganalytics.embedded" .)) (not .Values.masterKey.existingSecret) (not .Values.externalSecret.enabled) }}true{{ end }}
{{- end }}

{{/*
The master key's source. In embedded mode the ExternalSecret provides it only when its data lists
the key (otherwise the service generates one on the data volume).
*/}}
{{- define "pganalytics.masterKeySource" -}}
{{- $chartKey := ternary "master-key" "" (eq (include "pganalytics.generatesMasterKey" .) "true") }}
{{- $fromExternal := and .Values.externalSecret.enabled (or (not (include "pganalytics.embedded" .)) (hasKey .Values.externalSecret.data .Values.masterKey.key)) }}
{{- if or .Values.masterKey.existingSecret $chartKey $fromExternal }}
{{- include "pganalytics.secretSource" (dict "ctx" . "existing" .Values.masterKey.existingSecret "key" .Values.masterKey.key "chartKey" $chartKey) }}
{{- end }}
{{- end }}

{{- define "pganalytics.databaseUrlSource" -}}
{{- if eq .Values.postgresql.mode "bundled" }}
{{- include "pganalytics.fullname" . }}/database-url
{{- else if eq .Values.postgresql.mode "external" }}
{{- $chartKey := ternary "database-url" "" (and (not .Values.postgresql.external.existingSecret) (ne .Values.postgresql.external.url "")) }}
{{- include "pganalytics.secretSource" (dict "ctx" . "existing" .Values.postgresql.external.existingSecret "key" .Values.postgresql.external.urlKey "chartKey" $chartKey) }}
{{- end }}
{{- end }}

{{- define "pganalytics.redisUrlSource" -}}
{{- if eq .Values.redis.mode "bundled" }}
{{- include "pganalytics.fullname" . }}/redis-url
{{- else if eq .Values.redis.mode "external" }}
{{- $chartKey := ternary "redis-url" "" (and (not .Values.redis.external.existingSecret) (ne .Values.redis.external.url "")) }}
{{- include "pganalytics.secretSource" (dict "ctx" . "existing" .Values.redis.external.existingSecret "key" .Values.redis.external.urlKey "chartKey" $chartKey) }}
{{- end }}
{{- end }}

{{/* Does the release need the chart's own Secret? */}}
{{- define "pganalytics.needsChartSecret" -}}
{{- if or (eq (include "pganalytics.generatesMasterKey" .) "true") (eq .Values.postgresql.mode "bundled") (eq .Values.redis.mode "bundled") (and (eq .Values.postgresql.mode "external") (not .Values.postgresql.external.existingSecret) .Values.postgresql.external.url) (and (eq .Values.redis.mode "external") (not .Values.redis.external.existingSecret) .Values.redis.external.url) }}true{{ end }}
{{- end }}

{{/* Names of the bundled datastores' Services (also their StatefulSets). */}}
{{- define "pganalytics.postgresqlName" -}}
{{- printf "%s-postgresql" (include "pganalytics.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pganalytics.redisName" -}}
{{- printf "%s-redis" (include "pganalytics.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A secretKeyRef from a "name/key" source. */}}
{{- define "pganalytics.secretKeyRef" -}}
{{- $parts := splitList "/" . -}}
valueFrom:
  secretKeyRef:
    name: {{ first $parts }}
    key: {{ rest $parts | join "/" }}
{{- end }}

{{/* Where a CA bundle is mounted: /etc/pganalytics/tls/<name>/<key>. */}}
{{- define "pganalytics.caFile" -}}
/etc/pganalytics/tls/{{ .name }}/{{ .ca.key }}
{{- end }}
