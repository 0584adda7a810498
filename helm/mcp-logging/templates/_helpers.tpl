{{- define "mcp-logging.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: mcp-logging
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: audit-forwarding
app.kubernetes.io/part-of: ngx-mcp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
