{{/*
Values combinations the chart refuses, each with a message saying what to change. Included once,
from deployment.yaml, so every render checks them (helm template, install, upgrade, lint).
*/}}
{{- define "pganalytics.validate" -}}
{{- $v := .Values }}
{{- $scaled := or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled }}

{{- /* Replicas share nothing in memory: the embedded store and in-process state are one replica's. */}}
{{- if and $scaled (eq $v.postgresql.mode "embedded") }}
{{- fail "replicaCount > 1 and autoscaling need a shared store: the embedded store (postgresql.mode=embedded) serves one replica only; set postgresql.mode to external (or bundled, for evaluation)" }}
{{- end }}
{{- if and $scaled (eq $v.redis.mode "memory") }}
{{- fail "replicaCount > 1 and autoscaling need shared state: in-process state (redis.mode=memory) serves one replica only; set redis.mode to external (or bundled, for evaluation)" }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}

{{- /* Shutdown timing: the one number the rest is derived from. */}}
{{- if lt (int $v.shutdown.graceSeconds) 1 }}
{{- fail "shutdown.graceSeconds must be at least 1" }}
{{- end }}

{{- /* An external or bundled store needs a master key kept apart from it. */}}
{{- if and (not (include "pganalytics.embedded" .)) (not (include "pganalytics.masterKeySource" .)) }}
{{- fail "postgresql.mode=external/bundled needs a master key: masterKey.existingSecret (a Secret holding `openssl rand -base64 32`), or externalSecret.enabled, or masterKey.generate=true (development: generated once into the chart's Secret)" }}
{{- end }}

{{- /* Datastores: something must provide the URLs. */}}
{{- if and (eq $v.postgresql.mode "external") (not (include "pganalytics.databaseUrlSource" .)) }}
{{- fail "postgresql.mode=external needs postgresql.external.existingSecret (or externalSecret.enabled, or postgresql.external.url for a trial)" }}
{{- end }}
{{- if and (eq $v.redis.mode "external") (not (include "pganalytics.redisUrlSource" .)) }}
{{- fail "redis.mode=external needs redis.external.existingSecret (or externalSecret.enabled, or redis.external.url for a trial)" }}
{{- end }}
{{- if and (eq $v.redis.mode "external") (eq $v.redis.external.topology "sentinel") (not $v.redis.external.sentinels) }}
{{- fail "redis.external.topology=sentinel needs redis.external.sentinels (host:port of each Sentinel)" }}
{{- end }}
{{- range $name, $ca := dict "postgresql.external.caCert" $v.postgresql.external.caCert "redis.external.caCert" $v.redis.external.caCert }}
{{- if and $ca.secretName $ca.configMapName }}
{{- fail (printf "%s: set secretName or configMapName, not both" $name) }}
{{- end }}
{{- end }}

{{- /* The environment: one source per variable, secrets never in the ConfigMap. */}}
{{- $managed := include "pganalytics.managedVariables" . | fromJsonArray }}
{{- $secrets := include "pganalytics.secretVariables" . | fromJsonArray }}
{{- range $name, $value := $v.config }}
{{- if has $name $managed }}
{{- fail (printf "config.%s: the chart sets %s from other values (see docs/HELM_VALUES_REFERENCE.md); remove it from config" $name $name) }}
{{- end }}
{{- if has $name $secrets }}
{{- fail (printf "config.%s is a secret: pass it through secretEnv (a Secret), not the ConfigMap" $name) }}
{{- end }}
{{- if or (hasKey $v.secretEnv $name) (hasKey $v.extraEnv $name) }}
{{- fail (printf "%s is set twice (config and secretEnv/extraEnv)" $name) }}
{{- end }}
{{- end }}
{{- range $name, $ref := $v.secretEnv }}
{{- if has $name $managed }}
{{- fail (printf "secretEnv.%s: the chart sets %s from other values; remove it from secretEnv" $name $name) }}
{{- end }}
{{- if hasKey $v.extraEnv $name }}
{{- fail (printf "%s is set twice (secretEnv and extraEnv)" $name) }}
{{- end }}
{{- if and (not $ref.secretName) (not $v.externalSecret.enabled) }}
{{- fail (printf "secretEnv.%s needs a secretName (or externalSecret.enabled)" $name) }}
{{- end }}
{{- end }}
{{- range $name, $value := $v.extraEnv }}
{{- if has $name $managed }}
{{- fail (printf "extraEnv.%s: the chart sets %s from other values; remove it from extraEnv" $name $name) }}
{{- end }}
{{- if and (has $name $secrets) (not (kindIs "map" $value)) }}
{{- fail (printf "extraEnv.%s is a secret: pass it through secretEnv (a Secret), not as a plain value" $name) }}
{{- end }}
{{- end }}

{{- /* The ExternalSecret must provide every key read from it. */}}
{{- if $v.externalSecret.enabled }}
{{- if not $v.externalSecret.secretStoreRef.name }}
{{- fail "externalSecret.enabled needs externalSecret.secretStoreRef.name" }}
{{- end }}
{{- $target := include "pganalytics.externalSecretName" . }}
{{- $sources := list (include "pganalytics.masterKeySource" .) (include "pganalytics.databaseUrlSource" .) (include "pganalytics.redisUrlSource" .) }}
{{- range $name, $ref := $v.secretEnv }}
{{- $sources = append $sources (printf "%s/%s" ($ref.secretName | default $target) $ref.key) }}
{{- end }}
{{- range $sources }}
{{- $parts := splitList "/" . }}
{{- if and (eq (first $parts) $target) (not (hasKey $v.externalSecret.data (rest $parts | join "/"))) }}
{{- fail (printf "externalSecret.data has no key %q, which the chart reads from the ExternalSecret's Secret %s" (rest $parts | join "/") $target) }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Ingress. */}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) }}
{{- fail "ingress.enabled needs at least one host in ingress.hosts" }}
{{- end }}
{{- end }}
