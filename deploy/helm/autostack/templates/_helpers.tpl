{{/* Names and labels shared by every object of the chart. */}}

{{- define "autostack.name" -}}
{{- default "autostack" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "autostack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "autostack.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "autostack.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "autostack.postgresql" -}}
{{- printf "%s-postgresql" (include "autostack.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component (immutable once installed). */}}
{{- define "autostack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "autostack.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "autostack.labels" -}}
{{ include "autostack.selectorLabels" . }}
app.kubernetes.io/part-of: autostack
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "autostack.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "autostack.credentialsSecret" -}}
{{- default (include "autostack.fullname" .) .Values.credentials.existingSecret -}}
{{- end -}}

{{- define "autostack.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "https://%s" .Values.ingress.host -}}
{{- else -}}
{{- fail "set config.publicUrl (the URL GitHub reaches AutoStack at), or enable the ingress" -}}
{{- end -}}
{{- end -}}

{{/* The one way the database is given; a configuration without one is refused. */}}
{{- define "autostack.checkDatabase" -}}
{{- $given := 0 -}}
{{- if .Values.postgresql.enabled }}{{ $given = add1 $given }}{{ end -}}
{{- if .Values.database.url }}{{ $given = add1 $given }}{{ end -}}
{{- if .Values.database.existingSecret }}{{ $given = add1 $given }}{{ end -}}
{{- if ne $given 1 -}}
{{- fail "give the database exactly one way: database.url, database.existingSecret or postgresql.enabled=true" -}}
{{- end -}}
{{- end -}}

{{/* The bundled PostgreSQL's password: the value, else the one already stored, else new. */}}
{{- define "autostack.postgresqlPassword" -}}
{{- if .Values.postgresql.auth.password -}}
{{- .Values.postgresql.auth.password -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "autostack.postgresql" .) -}}
{{- if and $existing $existing.data (index $existing.data "password") -}}
{{- index $existing.data "password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The container and pod security context of every pod: Pod Security "restricted". */}}
{{- define "autostack.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "autostack.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Spread replicas over zones and nodes; ScheduleAnyway so a one-node cluster runs them. */}}
{{- define "autostack.topologySpread" -}}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "autostack.selectorLabels" $ | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end -}}
