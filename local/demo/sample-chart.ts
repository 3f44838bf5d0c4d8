// A tiny app chart for the demo when charts/k8s-ee-app is not there: a web Deployment without any security
// settings (k8s-ee's defaults make it pass `restricted`), its Service and an Ingress on the preview host.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILES: Record<string, string> = {
  'Chart.yaml': `apiVersion: v2
name: k8s-ee-demo-app
description: A sample web app for the k8s-ee demo
version: 0.1.0
`,
  'values.yaml': `image: nginxinc/nginx-unprivileged:1.27
previewDomain: preview.example.com
`,
  'templates/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 1
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          ports:
            - containerPort: 8080
`,
  'templates/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: { app: web }
  ports:
    - port: 80
      targetPort: 8080
`,
  'templates/ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-web
spec:
  rules:
    - host: {{ .Release.Namespace }}.{{ .Values.previewDomain }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}-web
                port: { number: 80 }
`,
};

/** Writes the sample chart into `dir` and returns its path. */
export async function writeSampleChart(dir: string): Promise<string> {
  for (const [name, text] of Object.entries(FILES)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}
