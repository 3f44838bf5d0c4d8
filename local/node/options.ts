// Whether `cluster up` gets a node, and everything the node needs in place first: the Debian packages, the
// binaries built from Go, the images built locally and kubectl. A node needs root on Linux; without it (or
// with --no-node, or while another cluster holds this machine's node) the cluster is a control plane only,
// and one line says why.
import type { NodeOptions } from '../cluster/controlplane.ts';
import { ensureNodeBinaries, ensureNodePackages, nodeSupport } from '../cluster/node-setup.ts';
import { ensureTools, type Progress } from '../cluster/setup.ts';
import { ensureImages } from '../images/build.ts';
import { nodeBusyReason } from './node.ts';

/** Why the cluster in `dir` gets no node, or undefined when it can have one. */
export function noNodeReason(dir: string, wanted: boolean): string | undefined {
  if (!wanted) return '--no-node was given';
  const support = nodeSupport();
  if (!support.ok) return support.why;
  return nodeBusyReason(dir);
}

/** Puts in place what a node needs; undefined (with one progress line saying why) when there is no node. */
export async function resolveNodeOptions(
  dir: string,
  wanted: boolean,
  progress: Progress,
): Promise<NodeOptions | undefined> {
  const why = noNodeReason(dir, wanted);
  if (why) {
    progress(`no node (control plane only): ${why}`);
    return undefined;
  }
  await ensureNodePackages(progress);
  const { kubectl } = await ensureTools(progress);
  const binaries = await ensureNodeBinaries(progress);
  const images = await ensureImages({ progress, crictl: binaries.crictl });
  return { binaries, images, kubectl };
}
