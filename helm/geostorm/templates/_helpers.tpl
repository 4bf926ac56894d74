{{/* The operator's name: the release's, unless it is the chart's own. */}}
{{- define "geostorm.name" -}}
{{- if eq .Release.Name "geostorm" -}}geostorm-operator{{- else -}}{{ .Release.Name | trunc 54 | trimSuffix "-" }}-operator{{- end -}}
{{- end -}}

{{/* Labels on every object; selectorLabels are the operator pods'. */}}
{{- define "geostorm.selectorLabels" -}}
app.kubernetes.io/name: {{ if eq .Values.mode "member" }}geostorm-member{{ else }}geostorm-operator{{ end }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "geostorm.labels" -}}
{{ include "geostorm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* labels and annotations of every object: the chart's and the common ones, with
     the object's own `labels` and `annotations` (maps) merged in. */}}
{{- define "geostorm.metadata" -}}
labels:
  {{- include "geostorm.labels" .root | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with merge (dict) (.annotations | default dict) .root.Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "geostorm.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}
{{- else if eq .Values.mode "member" -}}geostorm-member
{{- else -}}{{ include "geostorm.name" . }}{{- end -}}
{{- end -}}

{{- define "geostorm.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* What gateways dial for their job's policy controller. */}}
{{- define "geostorm.controlHost" -}}
{{- .Values.operator.control.host | default (printf "%s.%s.svc" (include "geostorm.name" .) .Release.Namespace) -}}
{{- end -}}
