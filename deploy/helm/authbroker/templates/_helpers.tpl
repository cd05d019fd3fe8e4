{{- define "authbroker.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "authbroker.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "authbroker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authbroker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authbroker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "authbroker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "authbroker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "authbroker.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "authbroker.envSecretName" -}}
{{- default (printf "%s-env" (include "authbroker.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "authbroker.keysSecretName" -}}
{{- default (printf "%s-keys" (include "authbroker.fullname" .)) .Values.keys.existingSecret -}}
{{- end -}}

{{- define "authbroker.hasKeys" -}}
{{- if or .Values.keys.existingSecret .Values.keys.jwtKey .Values.keys.secretsKey -}}true{{- end -}}
{{- end -}}
