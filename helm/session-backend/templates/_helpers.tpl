{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "session-backend.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-name, unless the release name already contains the chart name. */}}
{{- define "session-backend.fullname" -}}
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

{{- define "session-backend.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "session-backend.labels" -}}
helm.sh/chart: {{ include "session-backend.chart" . }}
{{ include "session-backend.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "session-backend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "session-backend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{- define "session-backend.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "session-backend.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "session-backend.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* In-cluster PostgreSQL (development only). */}}
{{- define "session-backend.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "session-backend.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "session-backend.postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "session-backend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end }}

{{/*
Secret that holds DATABASE_URL: the user's existingSecret, else the one this chart renders.
*/}}
{{- define "session-backend.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-database" (include "session-backend.fullname" .) }}
{{- end }}
{{- end }}

{{- define "session-backend.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else }}
{{- "DATABASE_URL" }}
{{- end }}
{{- end }}

{{/* DATABASE_URL when the chart renders the Secret; fails early when nothing says where the database is. */}}
{{- define "session-backend.databaseUrl" -}}
{{- if .Values.postgresql.enabled }}
{{- $pg := .Values.postgresql.auth }}
{{- printf "postgresql://%s:%s@%s:5432/%s" $pg.username $pg.password (include "session-backend.postgresql.fullname" .) $pg.database }}
{{- else }}
{{- required "set database.url, database.existingSecret or postgresql.enabled=true" .Values.database.url }}
{{- end }}
{{- end }}

{{/* The chart's own Secret holding the viewer's cookie-signing key (templates/ui-secret.yaml). */}}
{{- define "session-backend.uiSecretName" -}}
{{ include "session-backend.fullname" . }}-ui
{{- end }}

{{/* Environment shared by the API pods and the init-db Job. */}}
{{- define "session-backend.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "session-backend.databaseSecretName" . }}
      key: {{ include "session-backend.databaseSecretKey" . }}
- name: ENVIRONMENT
  value: {{ .Values.config.environment | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: DB_POOL_MIN
  value: {{ .Values.config.dbPoolMin | quote }}
- name: DB_POOL_MAX
  value: {{ .Values.config.dbPoolMax | quote }}
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
{{- with .Values.auth.existingSecret }}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.auth.existingSecretKey }}
{{- end }}
- name: AUTH_DISABLED
  value: {{ .Values.auth.disabled | quote }}
{{- with .Values.metrics.token.existingSecret }}
- name: METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.metrics.token.existingSecretKey }}
{{- end }}
{{- with .Values.corsOrigins }}
- name: CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod security context: non-root, no privilege escalation, read-only root filesystem. */}}
{{- define "session-backend.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
