// A tiny guard process for a control plane started by a test run: when the process that owns the cluster is
// gone (killed, crashed, its terminal closed) without stopping it, the guard stops the cluster and removes its
// folder. Usage: node local/cluster/watchdog.ts OWNER_PID CLUSTER_DIR
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterDown, readState } from './controlplane.ts';
import { isRunning, signalable as alive } from './processes.ts';

async function main(ownerPid: number, dir: string): Promise<void> {
  for (;;) {
    await sleep(1_000);
    const state = await readState(dir);
    // Stopped the normal way (state removed, or nothing runs any more): nothing to guard.
    if (!state || !state.processes.some(isRunning)) return;
    if (!alive(ownerPid)) break;
  }
  await clusterDown(dir);
  await rm(dir, { recursive: true, force: true });
}

const [owner, dir] = process.argv.slice(2);
if (!owner || !dir) {
  process.stderr.write('usage: watchdog.ts OWNER_PID CLUSTER_DIR\n');
  process.exitCode = 2;
} else {
  await main(Number(owner), dir);
}
