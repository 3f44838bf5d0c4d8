// Kubeconfig files with embedded certificates: one for the admin (system:masters), one for the controller manager.
import { stringify } from 'yaml';

export interface KubeconfigInput {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  user: string;
  name?: string;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

export function kubeconfigYaml(k: KubeconfigInput): string {
  const name = k.name ?? 'k8s-ee';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: k.server, 'certificate-authority-data': b64(k.caPem) } }],
    users: [{ name: k.user, user: { 'client-certificate-data': b64(k.certPem), 'client-key-data': b64(k.keyPem) } }],
    contexts: [{ name, context: { cluster: name, user: k.user } }],
    'current-context': name,
    preferences: {},
  });
}
