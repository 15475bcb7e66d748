{{/*
Names. Object names are "<fullname>-<component>"; fullname is the release name, or
"<release>-hikyaku" when the release name does not contain the chart name.
*/}}
{{- define "hikyaku.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hikyaku.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; fullname is cut at 50 so this stays a valid DNS label. */}}
{{- define "hikyaku.componentName" -}}
{{- printf "%s-%s" (include "hikyaku.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hikyaku.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. Call with (dict "root" $ "component" "ingress"). */}}
{{- define "hikyaku.labels" -}}
helm.sh/chart: {{ include "hikyaku.chart" .root }}
{{ include "hikyaku.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: hikyaku
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels: stable for the life of a release (Deployment selectors are immutable). */}}
{{- define "hikyaku.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hikyaku.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/*
The labels that select sender pods: the operator's selector labels, which it puts back on
every sender pod whatever a pool's template says (operator/src/desired/labels.ts and
statefulset.ts).
*/}}
{{- define "hikyaku.senderSelectorLabels" -}}
app.kubernetes.io/managed-by: hikyaku-operator
app.kubernetes.io/component: sender
{{- end -}}

{{/* The one image every component runs; a digest wins over the tag. */}}
{{- define "hikyaku.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "hikyaku.serviceAccountName" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.serviceAccount.create -}}
{{- default (include "hikyaku.componentName" .) $values.serviceAccount.name -}}
{{- else -}}
{{- default "default" $values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Environment every component shares: where NATS and Redis are and how to log in, the
stream replicas, the log level, the ops port and the shutdown grace. The shutdown grace
is the pod's termination grace less five seconds, so a service finishes its ordered
shutdown before the kubelet sends SIGKILL.
Call with (dict "root" $ "component" "ingress").
*/}}
{{- define "hikyaku.commonEnv" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
{{- $nats := $root.Values.nats -}}
{{- $redis := $root.Values.redis -}}
{{- if $nats.urlSecret.name }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $nats.urlSecret.name }}
      key: {{ $nats.urlSecret.key }}
{{- else }}
- name: NATS_URL
  value: {{ required "nats.url (or nats.urlSecret.name) is required: the client URL of the NATS cluster" $nats.url | quote }}
{{- end }}
{{- with $nats.auth.existingSecret }}
{{- if $nats.auth.tokenKey }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $nats.auth.tokenKey }}
{{- end }}
{{- if $nats.auth.userKey }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $nats.auth.userKey }}
{{- end }}
{{- if $nats.auth.passwordKey }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $nats.auth.passwordKey }}
{{- end }}
{{- end }}
{{- if $redis.urlSecret.name }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $redis.urlSecret.name }}
      key: {{ $redis.urlSecret.key }}
{{- else }}
- name: REDIS_URL
  value: {{ required "redis.url (or redis.urlSecret.name) is required: the URL of the Redis-compatible server" $redis.url | quote }}
{{- end }}
- name: HIKYAKU_STREAM_REPLICAS
  value: {{ $nats.streamReplicas | quote }}
- name: HIKYAKU_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: HIKYAKU_HTTP_PORT
  value: {{ $values.opsPort | quote }}
- name: HIKYAKU_SHUTDOWN_GRACE_MS
  value: {{ mul (sub $values.terminationGracePeriodSeconds 5) 1000 | quote }}
{{- end -}}

{{/* Pod-level security context shared by every pod of the chart. */}}
{{- define "hikyaku.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{/*
Spread the replicas of one component over zones and nodes. Soft by default
(ScheduleAnyway) so a small cluster still schedules them; set the component's
topologySpreadConstraints to replace these.
*/}}
{{- define "hikyaku.topologySpread" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.topologySpreadConstraints }}
{{- toYaml $values.topologySpreadConstraints }}
{{- else }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "hikyaku.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "hikyaku.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end -}}

{{/* Probes on the ops port: /healthz (alive), /readyz (connected and taking work). */}}
{{- define "hikyaku.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: ops}
  periodSeconds: 2
  failureThreshold: 90
livenessProbe:
  httpGet: {path: /healthz, port: ops}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: ops}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/*
Whether to render a prometheus-operator object: "always", "never", or "auto" (only when
the cluster serves monitoring.coreos.com/v1). Returns "true" or "".
*/}}
{{- define "hikyaku.monitoringEnabled" -}}
{{- $create := .create -}}
{{- if eq $create "always" -}}
true
{{- else if and (eq $create "auto") (.root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
true
{{- end -}}
{{- end -}}

{{/* The listeners the ingress runs: relay always; submission and smtps only with TLS. */}}
{{- define "hikyaku.ingressListeners" -}}
{{- $ingress := .Values.ingress -}}
{{- $names := list -}}
{{- if $ingress.listeners.relay.enabled -}}{{- $names = append $names "relay" -}}{{- end -}}
{{- if $ingress.tls.enabled -}}
{{- if $ingress.listeners.submission.enabled -}}{{- $names = append $names "submission" -}}{{- end -}}
{{- if $ingress.listeners.smtps.enabled -}}{{- $names = append $names "smtps" -}}{{- end -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{/* The Secret with the ingress' certificate: named, or the one cert-manager writes. */}}
{{- define "hikyaku.ingressTlsSecret" -}}
{{- $tls := .Values.ingress.tls -}}
{{- if $tls.secretName -}}
{{- $tls.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "hikyaku.componentName" (dict "root" . "component" "ingress")) -}}
{{- end -}}
{{- end -}}

{{/* The name the ingress greets with: set, else the certificate's first DNS name. */}}
{{- define "hikyaku.ingressHostname" -}}
{{- $ingress := .Values.ingress -}}
{{- if $ingress.hostname -}}
{{- $ingress.hostname -}}
{{- else if and $ingress.tls.enabled $ingress.tls.certManager.enabled $ingress.tls.certManager.dnsNames -}}
{{- first $ingress.tls.certManager.dnsNames -}}
{{- end -}}
{{- end -}}
