{{- define "gzg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: greenzone
{{- range $key, $value := .Values.labels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "gzg.namespace" -}}
{{- .namespace | default (printf "%s-dept" .name) -}}
{{- end -}}

{{/*
The egress rules every zone namespace gets: DNS, its own namespace, the allow-listed CIDRs.
Call with the root context.
*/}}
{{- define "gzg.commonEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.egress.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.egress.dns.podLabels | nindent 10 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- if .Values.egress.allowSameNamespace }}
- to:
    - podSelector: {}
{{- end }}
{{- if and (eq .Values.egress.mode "allow-list") .Values.egress.allowCidrs }}
- to:
    {{- range .Values.egress.allowCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
{{- end }}
{{- end -}}
