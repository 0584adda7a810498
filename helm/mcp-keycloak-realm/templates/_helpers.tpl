{{- define "mcp-keycloak-realm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: mcp-keycloak-realm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: identity-provider
app.kubernetes.io/part-of: ngx-mcp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcp-keycloak-realm.domain" -}}
{{- required "set global.localClusterDomain (the cluster's apps domain) or keycloak.hostname and client.audiences" .Values.global.localClusterDomain }}
{{- end }}

{{- define "mcp-keycloak-realm.hostname" -}}
{{- if .Values.keycloak.hostname }}
{{- .Values.keycloak.hostname }}
{{- else }}
{{- printf "mcp-sso.%s" (include "mcp-keycloak-realm.domain" .) }}
{{- end }}
{{- end }}

{{- define "mcp-keycloak-realm.audiences" -}}
{{- if .Values.client.audiences }}
{{- toJson .Values.client.audiences }}
{{- else }}
{{- $host := .Values.gateway.host | default (printf "mcp-gateway-%s.%s" .Release.Namespace (include "mcp-keycloak-realm.domain" .)) }}
{{- $out := list }}
{{- range .Values.gateway.paths }}
{{- $out = append $out (printf "https://%s%s" $host .) }}
{{- end }}
{{- toJson $out }}
{{- end }}
{{- end }}
