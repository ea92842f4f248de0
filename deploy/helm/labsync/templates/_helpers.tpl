{{/* Names, labels and the checks every render runs first. */}}

{{- define "labsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "labsync.fullname" -}}
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

{{- define "labsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "labsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "labsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "labsync.labels" -}}
helm.sh/chart: {{ include "labsync.chart" . }}
{{ include "labsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "labsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "labsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "labsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret that holds LABSYNC_KEK and LABSYNC_DATABASE_URL. */}}
{{- define "labsync.secretName" -}}
{{- default (include "labsync.fullname" .) .Values.existingSecret.name }}
{{- end }}

{{/* "true" when labsync runs on PostgreSQL. */}}
{{- define "labsync.postgres" -}}
{{- if or .Values.database.url (and .Values.existingSecret.name .Values.existingSecret.databaseURLKey) }}true{{ end }}
{{- end }}

{{/* "true" when a KEK reaches the pods (from values or an existing Secret). */}}
{{- define "labsync.hasKEK" -}}
{{- if or .Values.kek (and .Values.existingSecret.name .Values.existingSecret.kekKey) }}true{{ end }}
{{- end }}

{{/* "true" when the chart renders its own Secret. */}}
{{- define "labsync.ownSecret" -}}
{{- if and (not .Values.existingSecret.name) (or .Values.kek .Values.database.url) }}true{{ end }}
{{- end }}

{{/* LABSYNC_PUBLIC_URL: the value, else the first ingress host, else the in-cluster Service URL. */}}
{{- define "labsync.publicURL" -}}
{{- if .Values.publicURL }}
{{- .Values.publicURL | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}{{ if has $host .hosts }}{{ $tls = true }}{{ end }}{{ end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- else }}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "labsync.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}
{{- end }}

{{/*
labsync.validate stops the render with a message naming the value to change.
Every template that renders a workload includes it.
*/}}
{{- define "labsync.validate" -}}
{{- $pg := include "labsync.postgres" . }}
{{- if and .Values.existingSecret.name (or .Values.kek .Values.database.url) }}
{{- fail "labsync: existingSecret.name is set, so kek and database.url must be empty: put LABSYNC_KEK and LABSYNC_DATABASE_URL in that Secret" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not $pg) }}
{{- fail "labsync: replicaCount > 1 needs PostgreSQL: SQLite is one file on one volume. Set database.url (postgres://…?sslmode=verify-full) or existingSecret.name with existingSecret.databaseURLKey" }}
{{- end }}
{{- if and .Values.split.enabled (not $pg) }}
{{- fail "labsync: split.enabled (separate web and worker Deployments) needs PostgreSQL. Set database.url (postgres://…?sslmode=verify-full) or existingSecret.name with existingSecret.databaseURLKey" }}
{{- end }}
{{- if and $pg (not (include "labsync.hasKEK" .)) }}
{{- fail "labsync: PostgreSQL needs a KEK shared by every replica: set kek (from `labsync keys generate`) or existingSecret.name with existingSecret.kekKey" }}
{{- end }}
{{- with .Values.database.url }}
{{- if not (regexMatch "^postgres(ql)?://" .) }}
{{- fail "labsync: database.url must start with postgres:// or postgresql:// (leave it empty for SQLite)" }}
{{- end }}
{{- if not (regexMatch "[?&]sslmode=verify-(full|ca)(&|$)" .) }}
{{- fail "labsync: database.url must verify the server's certificate: add sslmode=verify-full (or verify-ca); TLS verification is never switched off" }}
{{- end }}
{{- end }}
{{- if and .Values.kek (not (regexMatch "^[A-Za-z0-9+/_-]{43}=?$" .Values.kek)) }}
{{- fail "labsync: kek must be base64 of 32 bytes (44 characters), as printed by `labsync keys generate`" }}
{{- end }}
{{- end }}

{{/* The pod template shared by every Deployment; call with (dict "ctx" $ "role" "all|web|worker" "resources" …). */}}
{{- define "labsync.podTemplate" -}}
{{- $ := .ctx }}
{{- $pg := include "labsync.postgres" $ -}}
metadata:
  labels:
    {{- include "labsync.selectorLabels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
    {{- with $.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
    {{- if include "labsync.ownSecret" $ }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") $ | sha256sum }}
    {{- end }}
    {{- with $.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "labsync.serviceAccountName" $ }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ $.Values.terminationGracePeriodSeconds }}
  containers:
    - name: labsync
      image: {{ include "labsync.image" $ | quote }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args:
        - serve
        {{- if ne .role "all" }}
        - --role={{ .role }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ $.Values.port }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "labsync.fullname" $ }}
      {{- if or (include "labsync.hasKEK" $) $pg $.Values.extraEnv }}
      env:
        {{- end }}
        {{- if include "labsync.hasKEK" $ }}
        - name: LABSYNC_KEK
          valueFrom:
            secretKeyRef:
              name: {{ include "labsync.secretName" $ }}
              key: {{ if $.Values.existingSecret.name }}{{ $.Values.existingSecret.kekKey }}{{ else }}LABSYNC_KEK{{ end }}
        {{- end }}
        {{- if $pg }}
        - name: LABSYNC_DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ include "labsync.secretName" $ }}
              key: {{ if $.Values.existingSecret.name }}{{ $.Values.existingSecret.databaseURLKey }}{{ else }}LABSYNC_DATABASE_URL{{ end }}
        {{- end }}
        {{- with $.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      securityContext:
        {{- toYaml $.Values.securityContext | nindent 8 }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $.Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $.Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $.Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ $.Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $.Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $.Values.probes.readiness.failureThreshold }}
      {{- with .resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/labsync
        - name: tmp
          mountPath: /tmp
        {{- with $.Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: data
      {{- if and $.Values.persistence.enabled (not $pg) }}
      persistentVolumeClaim:
        claimName: {{ default (include "labsync.fullname" $) $.Values.persistence.existingClaim }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    {{- with $.Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
