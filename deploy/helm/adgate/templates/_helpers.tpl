{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "adgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, or "<release>-<name>" when the
release name does not contain the chart name. With `helm install adgate` it
is "adgate", the name deploy/kubernetes uses.
*/}}
{{- define "adgate.fullname" -}}
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

{{- define "adgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "adgate.labels" -}}
helm.sh/chart: {{ include "adgate.chart" . }}
{{ include "adgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable for the life of a release.
*/}}
{{- define "adgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "adgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the Secret whose keys are copied to /run/adgate/secrets/<key>.
*/}}
{{- define "adgate.secretName" -}}
{{- if .Values.secret.create }}
{{- printf "%s-secrets" (include "adgate.fullname" .) }}
{{- else }}
{{- required "set existingSecret to the name of a Secret holding adgate's secrets (or secret.create=true)" .Values.existingSecret }}
{{- end }}
{{- end }}

{{- define "adgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
