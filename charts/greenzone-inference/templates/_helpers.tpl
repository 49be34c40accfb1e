{{- define "gzi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gzi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: greenzone
{{- range $key, $value := .Values.labels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "engine"). */}}
{{- define "gzi.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
A model name as a DNS label: google/gemma-3-4b-it -> gemma-3-4b-it-5d1c2. The hash suffix keeps two
models whose short names look alike (two orgs, long names cut short) on separate objects.
*/}}
{{- define "gzi.slug" -}}
{{- $short := regexReplaceAll "[^a-z0-9]+" (lower (last (splitList "/" .))) "-" | trunc 14 | trimAll "-" -}}
{{- printf "%s-%s" $short (sha256sum . | trunc 5) -}}
{{- end -}}

{{/* image: call with an entry of .Values.images; a digest, when given, wins over the tag. */}}
{{- define "gzi.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* The engine's Service names: one for Ollama, one per model for vLLM. */}}
{{- define "gzi.engineService" -}}
{{- if eq .root.Values.engine "ollama" -}}
{{- include "gzi.fullname" .root -}}-ollama
{{- else -}}
{{- include "gzi.fullname" .root -}}-{{ include "gzi.slug" .model }}
{{- end -}}
{{- end -}}

{{- define "gzi.port" -}}
{{- if eq .Values.engine "ollama" }}{{ .Values.ollama.port }}{{ else }}{{ .Values.vllm.port }}{{ end -}}
{{- end -}}

{{/* Pod settings shared by every engine pod. */}}
{{- define "gzi.gpuPod" -}}
{{- if and (gt (int .Values.gpu.count) 0) .Values.gpu.runtimeClassName }}
runtimeClassName: {{ .Values.gpu.runtimeClassName }}
{{- end }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- with .Values.gpu.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.gpu.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "gzi.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "gzi.resources" -}}
resources:
  requests:
    {{- toYaml .Values.resources.requests | nindent 4 }}
    {{- if gt (int .Values.gpu.count) 0 }}
    nvidia.com/gpu: {{ .Values.gpu.count }}
    {{- end }}
  limits:
    {{- toYaml .Values.resources.limits | nindent 4 }}
    {{- if gt (int .Values.gpu.count) 0 }}
    nvidia.com/gpu: {{ .Values.gpu.count }}
    {{- end }}
{{- end -}}

{{/*
The engine's writable model store, the read-only bundle it is seeded from, and the seeder. The
seeder (files/seed-models.sh) checks each copy against the bundle's SHA256SUMS and renames it into
place, so a restart copies nothing it already has, repairs what is wrong and never touches the network.
*/}}
{{- define "gzi.seedMounts" -}}
- {name: bundle-models, mountPath: /bundle, readOnly: true}
- {name: model-store, mountPath: /store}
- {name: seed, mountPath: /seed, readOnly: true}
{{- end -}}

{{- define "gzi.storeVolumes" -}}
- name: seed
  configMap:
    name: {{ include "gzi.fullname" . }}-seed
- name: bundle-models
{{- if .Values.modelStore.bundleClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.modelStore.bundleClaim }}
    readOnly: true
{{- else }}
  hostPath:
    path: {{ .Values.modelStore.bundlePath }}
    type: Directory
{{- end }}
- name: model-store
{{- if eq .Values.modelStore.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ .Values.modelStore.pvc.existingClaim | default (printf "%s-models" (include "gzi.fullname" .)) }}
{{- else }}
  hostPath:
    path: {{ .Values.modelStore.hostPath }}
    type: DirectoryOrCreate
{{- end }}
{{- end -}}

{{/*
The gateway's LiteLLM config: every model at its engine's OpenAI-compatible API (vLLM's server and
Ollama's /v1 both are one), department keys through greenzone_gateway.py, Prometheus and the audit
trail as callbacks. `always_include_stream_usage` asks the engine for its own token counts when
streaming instead of LiteLLM's estimate; `turn_off_message_logging` keeps prompts and answers out of
every callback; the forwarded user header (Open WebUI's ENABLE_FORWARD_USER_INFO_HEADERS) becomes
the `end_user` label.
*/}}
{{- define "gzi.gatewayConfig" -}}
model_list:
{{- range $model := .Values.models }}
  - model_name: {{ $model | quote }}
    litellm_params:
      model: {{ printf "openai/%s" $model | quote }}
      api_base: {{ printf "http://%s:%s/v1" (include "gzi.engineService" (dict "root" $ "model" $model)) (include "gzi.port" $) | quote }}
      api_key: none
      timeout: {{ $.Values.gateway.timeoutSeconds }}
{{- end }}
general_settings:
  custom_auth: greenzone_gateway.user_api_key_auth
  user_header_name: {{ .Values.gateway.userHeader }}
  always_include_stream_usage: true
litellm_settings:
  callbacks: ["prometheus", "greenzone_gateway.audit_trail"]
  turn_off_message_logging: true
  enable_end_user_cost_tracking_prometheus_only: true
  request_timeout: {{ .Values.gateway.timeoutSeconds }}
{{- end -}}
