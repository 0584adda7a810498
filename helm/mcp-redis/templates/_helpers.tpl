{{- define "mcp-redis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mcp-redis.selectorLabels" -}}
app.kubernetes.io/name: mcp-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcp-redis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mcp-redis.selectorLabels" . }}
app.kubernetes.io/component: apikey-store
app.kubernetes.io/part-of: ngx-mcp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcp-redis.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}
{{- end }}
