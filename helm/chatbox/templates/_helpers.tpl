{{/* Names and labels */}}
{{- define "chatbox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chatbox.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "chatbox.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "chatbox.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chatbox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatbox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chatbox.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatbox.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "chatbox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chatbox.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "chatbox.secretName" -}}
{{- default (include "chatbox.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Every setting the app reads (.env.example, src/config/*.ts); nothing else becomes an env var. */}}
{{- define "chatbox.knownSettings" -}}
PORT HOST MONGODB_URI JWT_SECRET JWT_PUBLIC_KEY JWT_ADMIN_ROLES ALLOWED_ORIGINS RECONNECT_TIMEOUT
MAX_MESSAGE_LENGTH RATE_LIMIT_MESSAGES_PER_SECOND ENCRYPTION_KEY ENCRYPTION_KEY_PREVIOUS REDIS_URL
LLM_PROVIDERS LLM_PROVIDERS_FILE MAX_SESSION_BYTES HEARTBEAT_INTERVAL WS_MAX_PAYLOAD_BYTES
MAX_SOCKETS_PER_USER MAX_SOCKETS CONNECT_RATE_PER_USER SESSION_READS_AT_ONCE REQUESTS_AT_ONCE_PER_USER
SESSION_SWEEP_INTERVAL SHUTDOWN_GRACE S3_BUCKET S3_ENDPOINT S3_REGION S3_ACCESS_KEY_ID
S3_SECRET_ACCESS_KEY S3_FORCE_PATH_STYLE UPLOAD_DIR UPLOAD_MAX_BYTES UPLOAD_ALLOWED_TYPES
SIGNED_URL_TTL UPLOAD_RATE_PER_MINUTE UPLOAD_QUOTA_BYTES UPLOAD_UNATTACHED_TTL UPLOAD_CLEANUP_INTERVAL
CLAMAV_HOST CLAMAV_PORT CLAMAV_TIMEOUT SMTP_URL MAIL_FROM ADMIN_EMAILS TWILIO_ACCOUNT_SID
TWILIO_AUTH_TOKEN TWILIO_FROM ADMIN_PHONES TWILIO_API_URL ALERT_RULES ALERT_LIMIT_PER_TYPE
ALERT_LIMIT_WINDOW ALERT_SESSION_WINDOW ALERT_DIGEST_INTERVAL ALERT_RETRY_ATTEMPTS ALERT_RETRY_BASE
ALERT_RETRY_MAX ALERT_RETRY_FOR ALERT_RETENTION ABNORMAL_RATE_LIMITED_PER_MINUTE ABNORMAL_ERRORS_PER_MINUTE TRAFFIC_CHECK_INTERVAL
HEALTH_WATCH_INTERVAL TAKEOVER_GRACE PUBLIC_BASE_URL LOG_LEVEL API_DOCS
{{- end -}}

{{/* Settings that hold credentials (or URLs with them): Secret only, never the ConfigMap. */}}
{{- define "chatbox.secretSettings" -}}
MONGODB_URI JWT_SECRET ENCRYPTION_KEY ENCRYPTION_KEY_PREVIOUS REDIS_URL LLM_PROVIDERS
S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY SMTP_URL TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN
{{- end -}}

{{/* A value as the env var text: whole numbers without an exponent (YAML numbers are floats). */}}
{{- define "chatbox.envValue" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}
{{- printf "%d" (int64 .) -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* A duration setting ("10s", "500ms", "2m", bare ms) in whole seconds, rounded up. */}}
{{- define "chatbox.durationSeconds" -}}
{{- $text := trim (include "chatbox.envValue" .value) -}}
{{- $pattern := "^([0-9]+(?:\\.[0-9]+)?)\\s*(ms|s|m|h|d)?$" -}}
{{- if not (regexMatch $pattern $text) -}}
{{- fail (printf "config.%s: %q is not a duration (e.g. 10s, 500ms, 2m)" .name $text) -}}
{{- end -}}
{{- $number := float64 (regexReplaceAll $pattern $text "${1}") -}}
{{- $unit := default "ms" (regexReplaceAll $pattern $text "${2}") -}}
{{- $unitMs := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) $unit -}}
{{- int64 (ceil (divf (mulf $number $unitMs) 1000)) -}}
{{- end -}}

{{- define "chatbox.port" -}}
{{- include "chatbox.envValue" (default "3000" .Values.config.PORT) -}}
{{- end -}}

{{- define "chatbox.uploadMaxBytes" -}}
{{- include "chatbox.envValue" (default "26214400" .Values.config.UPLOAD_MAX_BYTES) -}}
{{- end -}}

{{/* preStop + SHUTDOWN_GRACE + margin; a value set by hand must still be larger than the first two. */}}
{{- define "chatbox.terminationGracePeriodSeconds" -}}
{{- $grace := int64 (include "chatbox.durationSeconds" (dict "name" "SHUTDOWN_GRACE" "value" (default "10s" .Values.config.SHUTDOWN_GRACE))) -}}
{{- $preStop := int64 .Values.shutdown.preStopSleepSeconds -}}
{{- $set := .Values.shutdown.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- add $preStop $grace .Values.shutdown.closeMarginSeconds -}}
{{- else if le (int64 $set) (add $preStop $grace) -}}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + SHUTDOWN_GRACE (%d s): the pod would be killed while replies are still being stored" $set (add $preStop $grace)) -}}
{{- else -}}
{{- int64 $set -}}
{{- end -}}
{{- end -}}

{{/* "true" when the chart is given Redis (secrets.values.REDIS_URL or redis.existingSecret), else
empty: a Secret of the operator's (secrets.existingSecret) may hold REDIS_URL, but the chart cannot
see into it. */}}
{{- define "chatbox.hasRedis" -}}
{{- if or (get (.Values.secrets.values | default dict) "REDIS_URL") .Values.redis.existingSecret -}}
true
{{- end -}}
{{- end -}}

{{/* Checks that fail the render with a message naming the value to set. */}}
{{- define "chatbox.validate" -}}
{{- $known := splitList " " (include "chatbox.knownSettings" . | replace "\n" " ") -}}
{{- $secret := splitList " " (include "chatbox.secretSettings" . | replace "\n" " ") -}}
{{- range $name, $value := .Values.config -}}
{{- if not (has $name $known) -}}
{{- fail (printf "config.%s is not a chatbox setting (see .env.example)" $name) -}}
{{- end -}}
{{- if and (has $name $secret) (toString $value | trim) -}}
{{- fail (printf "config.%s holds a credential: put it in secrets.values or secrets.existingSecret, not the ConfigMap" $name) -}}
{{- end -}}
{{- end -}}
{{- $values := .Values.secrets.values | default dict -}}
{{- range $name, $value := $values -}}
{{- if not (has $name $known) -}}
{{- fail (printf "secrets.values.%s is not a chatbox setting (see .env.example)" $name) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- range $name := list "MONGODB_URI" "ENCRYPTION_KEY" -}}
{{- if not (get $values $name) -}}
{{- fail (printf "secrets.values.%s is required (or secrets.existingSecret)" $name) -}}
{{- end -}}
{{- end -}}
{{- if not (or (get $values "JWT_SECRET") .Values.config.JWT_PUBLIC_KEY) -}}
{{- fail "secrets.values.JWT_SECRET or config.JWT_PUBLIC_KEY is required (or secrets.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- if and (get $values "JWT_SECRET") .Values.config.JWT_PUBLIC_KEY -}}
{{- fail "set one of secrets.values.JWT_SECRET (HS256) or config.JWT_PUBLIC_KEY (RS256/ES256), not both: the app refuses both at boot" -}}
{{- end -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled -}}
{{- if not (include "chatbox.hasRedis" .) -}}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs Redis, the bus between instances: set secrets.values.REDIS_URL or redis.existingSecret" -}}
{{- end -}}
{{- /* Each pod's default UPLOAD_DIR is an emptyDir of its own: a file stays on the pod that took
the upload, and its signed link is 404 on every other pod. Until the deployment-edge audit of
session 42 several replicas were rendered that way (docs/operations.md, "Scaling"). */ -}}
{{- if not (or .Values.config.S3_BUCKET .Values.uploads.existingClaim) -}}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs uploads every pod can read: set config.S3_BUCKET, or uploads.existingClaim (a ReadWriteMany volume)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is required when ingress.enabled" -}}
{{- end -}}
{{- end -}}
