// Where the control plane's pieces live: the project root, the tool and binary caches, the cluster state folder.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cacheDir = join(projectRoot, '.cache');
export const toolsBinDir = join(cacheDir, 'tools', 'bin');
export const kubectlPath = join(toolsBinDir, 'kubectl');
export const helmPath = join(toolsBinDir, 'helm');
export const controlPlaneModuleDir = join(projectRoot, 'local', 'controlplane');
export const CONTROL_PLANE_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
export type ControlPlaneBinary = (typeof CONTROL_PLANE_BINARIES)[number];

export interface ControlPlaneVersions {
  kubernetes: string;
  etcd: string;
}

/** The Kubernetes and etcd versions our Go module requires, read from its go.mod (a pure parse of the text). */
export function parseControlPlaneVersions(goMod: string): ControlPlaneVersions {
  const version = (module: string): string => {
    const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v[0-9][^\\s]*)`, 'm').exec(goMod);
    if (!match?.[1]) throw new Error(`local/controlplane/go.mod: no "require ${module} vX.Y.Z" line; add it back`);
    return match[1];
  };
  return { kubernetes: version('k8s.io/kubernetes'), etcd: version('go.etcd.io/etcd/server/v3') };
}

export function controlPlaneVersions(): ControlPlaneVersions {
  return parseControlPlaneVersions(readFileSync(join(controlPlaneModuleDir, 'go.mod'), 'utf8'));
}

/** The cache folder of built binaries, keyed by the versions so a version bump builds afresh. */
export function controlPlaneBinDir(versions: ControlPlaneVersions = controlPlaneVersions()): string {
  return join(cacheDir, 'controlplane', `k8s-${versions.kubernetes}-etcd-${versions.etcd}`);
}

/** The node's build inputs (our Go wrapper modules and kube-network-policies patches) and its binary cache. */
export const nodeBuildDir = join(projectRoot, 'local', 'node', 'build');
export const nodeCacheDir = join(cacheDir, 'node');

/** The cluster state folder: --dir, else $K8S_EE_CLUSTER_DIR, else .cache/cluster. */
export function clusterDir(flag?: string): string {
  return resolve(flag ?? process.env['K8S_EE_CLUSTER_DIR'] ?? join(cacheDir, 'cluster'));
}
