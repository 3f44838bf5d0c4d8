// Kubernetes client set-up, shared by every command that talks to a cluster.
import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig from the given file, else $KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      path
        ? `kubeconfig ${path} has no current cluster; set current-context`
        : 'no kubeconfig found (pass --kubeconfig FILE, set KUBECONFIG, or run in a cluster)',
    );
  }
  return kc;
}
