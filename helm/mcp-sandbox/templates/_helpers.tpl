{{/* Names and labels of the mcp-sandbox chart. */}}

{{- define "mcp-sandbox.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" (default .Chart.Name .Values.nameOverride) .Values.toolset.name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mcp-sandbox.selectorLabels" -}}
app.kubernetes.io/name: mcp-sandbox
app.kubernetes.io/instance: {{ .Release.Name }}
ngx-mcp/toolset: {{ .Values.toolset.name }}
{{- end }}

{{- define "mcp-sandbox.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mcp-sandbox.selectorLabels" . }}
app.kubernetes.io/component: sandbox
app.kubernetes.io/part-of: ngx-mcp
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcp-sandbox.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "mcp-sandbox.identitySecret" -}}
{{- default (printf "mcp-identity-%s" .Values.toolset.name) .Values.identitySecret.name }}
{{- end }}
