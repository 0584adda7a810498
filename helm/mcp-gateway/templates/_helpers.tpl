{{/* Names, labels and derived settings of the mcp-gateway chart. */}}

{{- define "mcp-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcp-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "mcp-gateway.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "mcp-gateway.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mcp-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcp-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mcp-gateway.selectorLabels" . }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: ngx-mcp
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcp-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The cluster's apps domain, needed only when a host is not given. */}}
{{- define "mcp-gateway.domain" -}}
{{- required "set global.localClusterDomain (the cluster's apps domain) or the hosts explicitly: publicHost, idp.issuer" .Values.global.localClusterDomain }}
{{- end }}

{{- define "mcp-gateway.publicHost" -}}
{{- if .Values.publicHost }}
{{- .Values.publicHost }}
{{- else }}
{{- printf "%s-%s.%s" (include "mcp-gateway.fullname" .) .Release.Namespace (include "mcp-gateway.domain" .) }}
{{- end }}
{{- end }}

{{- define "mcp-gateway.publicUrl" -}}
{{- printf "https://%s" (include "mcp-gateway.publicHost" .) }}
{{- end }}

{{- define "mcp-gateway.issuer" -}}
{{- if .Values.idp.issuer }}
{{- .Values.idp.issuer }}
{{- else }}
{{- printf "https://mcp-sso.%s/realms/%s" (include "mcp-gateway.domain" .) .Values.idp.realm }}
{{- end }}
{{- end }}

{{- define "mcp-gateway.idpNamespace" -}}
{{- default .Release.Namespace .Values.idp.namespace }}
{{- end }}

{{- define "mcp-gateway.jwksUrl" -}}
{{- if .Values.idp.jwksUrl }}
{{- .Values.idp.jwksUrl }}
{{- else }}
{{- printf "https://%s.%s.svc:%d/realms/%s/protocol/openid-connect/certs" .Values.idp.service (include "mcp-gateway.idpNamespace" .) (int .Values.idp.port) .Values.idp.realm }}
{{- end }}
{{- end }}

{{- define "mcp-gateway.redisNamespace" -}}
{{- default .Release.Namespace .Values.redis.namespace }}
{{- end }}

{{- define "mcp-gateway.listenPort" -}}
{{- if eq .Values.route.termination "reencrypt" }}8443{{ else }}8080{{ end }}
{{- end }}

{{/* The tenants: toolsets/*.yaml, then .Values.tenants (same name
replaces), each with tenantDefaults filled in; a JSON list sorted by name. */}}
{{- define "mcp-gateway.tenantsJson" -}}
{{- $byName := dict }}
{{- if .Values.toolsetFiles }}
{{- range $file, $_ := .Files.Glob "toolsets/*.yaml" }}
{{- $ts := $.Files.Get $file | fromYaml }}
{{- if not (and $ts.toolset $ts.toolset.name $ts.tenant) }}
{{- fail (printf "%s: needs toolset.name and a tenant block" $file) }}
{{- end }}
{{- $t := deepCopy $ts.tenant }}
{{- $_ := set $t "name" $ts.toolset.name }}
{{- if $ts.port }}
{{- $_ := set $t "sandbox" (merge (default dict $t.sandbox) (dict "port" $ts.port)) }}
{{- end }}
{{- $_ := set $byName $ts.toolset.name $t }}
{{- end }}
{{- end }}
{{- range .Values.tenants }}
{{- $_ := set $byName .name (deepCopy .) }}
{{- end }}
{{- $out := list }}
{{- range $name := keys $byName | sortAlpha }}
{{- $t := merge (get $byName $name) (deepCopy $.Values.tenantDefaults) }}
{{- $_ := set $t "path" (default (printf "/mcp/%s" $t.name) $t.path) }}
{{- $_ := set $t.sandbox "service" (default (printf "mcp-sandbox-%s" $t.name) $t.sandbox.service) }}
{{- $_ := set $t.sandbox "namespace" (default (printf "mcp-%s" $t.name) $t.sandbox.namespace) }}
{{- $_ := set $t.sandbox "host" (default (printf "%s.%s.svc" $t.sandbox.service $t.sandbox.namespace) $t.sandbox.host) }}
{{- $_ := set $t.identitySecret "name" (default (printf "mcp-identity-%s" $t.name) $t.identitySecret.name) }}
{{- if not (and $t.allowRoles $t.tools) }}
{{- fail (printf "tenant %s: allowRoles and tools are required" $t.name) }}
{{- end }}
{{- $_ := set $t "id" ($t.name | replace "-" "_" | replace "." "_") }}
{{- $out = append $out $t }}
{{- end }}
{{- if not $out }}
{{- fail "no tenant: add a toolsets/*.yaml file or an entry to tenants" }}
{{- end }}
{{- toJson $out }}
{{- end }}
