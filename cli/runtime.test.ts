import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRuntimeStage } from '../local/images/dockerfile.ts';
import { projectRoot } from '../local/cluster/paths.ts';
import { startWebhookProcess, writeServingCert } from '../webhooks/testing/process.ts';
import { relaunchFor, SERVICE_ENV, SERVICE_NODE_FLAGS as FLAGS } from './runtime.ts';

const SERVICE_NODE_FLAGS = FLAGS.webhook;

const base = {
  execPath: '/usr/bin/node',
  argv: ['/usr/bin/node', '/app/dist/cli/main.js', 'webhook', '--port', '9443'],
};

test('a service started without its runtime settings is relaunched with them, arguments kept', () => {
  const relaunch = relaunchFor({ ...base, execArgv: ['--enable-source-maps'], env: { PATH: '/bin' } }, 'webhook');
  assert.deepEqual(relaunch?.argv, [
    '/usr/bin/node',
    ...SERVICE_NODE_FLAGS,
    '--enable-source-maps',
    '/app/dist/cli/main.js',
    'webhook',
    '--port',
    '9443',
  ]);
  assert.deepEqual(relaunch?.env, { PATH: '/bin', ...SERVICE_ENV });
});

test("the user's own flags and variables win: only what is missing is added, and nothing when nothing is", () => {
  const env = { MALLOC_ARENA_MAX: '4' };
  const own = relaunchFor({ ...base, execArgv: ['--max_semi_space_size', '8'], env }, 'webhook');
  assert.deepEqual(
    own?.argv.slice(1, -4),
    SERVICE_NODE_FLAGS.filter((f) => !f.startsWith('--max-semi-space-size')).concat('--max_semi_space_size', '8'),
  );
  assert.equal(own?.env['MALLOC_ARENA_MAX'], '4');
  const viaOptions = relaunchFor(
    { ...base, execArgv: [], env: { ...env, NODE_OPTIONS: SERVICE_NODE_FLAGS.join(' ') } },
    'webhook',
  );
  assert.equal(viaOptions, undefined);
  assert.equal(
    relaunchFor({ ...base, execArgv: [...SERVICE_NODE_FLAGS], env: { ...SERVICE_ENV } }, 'webhook'),
    undefined,
  );
  // The opposite of each switch: --x for --no-x, --no-x for --x.
  const negated = SERVICE_NODE_FLAGS.map((f) =>
    f.includes('=') ? f : f.startsWith('--no-') ? `--${f.slice('--no-'.length)}` : f.replace(/^--/, '--no-'),
  );
  assert.equal(
    relaunchFor({ ...base, execArgv: negated, env: { ...SERVICE_ENV } }, 'webhook'),
    undefined,
    '--no-x is a choice',
  );
});

test('each service has its own flags: the sweeper is tuned for memory, the webhook for admission throughput', () => {
  const sweeper = relaunchFor(
    { ...base, argv: ['/usr/bin/node', '/app/dist/cli/main.js', 'sweeper'], execArgv: [], env: { ...SERVICE_ENV } },
    'sweeper',
  );
  assert.deepEqual(sweeper?.argv.slice(1, -2), [...FLAGS.sweeper]);
  assert.ok(FLAGS.sweeper.includes('--optimize-for-size'));
  assert.ok(
    !FLAGS.webhook.includes('--optimize-for-size'),
    'it caps the young generation at 1 MiB: the webhook would scavenge every ~30 reviews',
  );
  // The webhook's flags do not stand in for the sweeper's: a flag the sweeper needs that the webhook lacks is added.
  const crossed = relaunchFor({ ...base, execArgv: [...FLAGS.webhook], env: { ...SERVICE_ENV } }, 'sweeper');
  assert.ok(crossed?.argv.includes('--optimize-for-size'));
  // The sweeper runs without V8's optimizing compilers; the webhook's admission needs them.
  assert.ok(FLAGS.sweeper.includes('--no-opt') && FLAGS.sweeper.includes('--no-maglev'));
  assert.ok(!FLAGS.webhook.some((flag) => ['--no-opt', '--no-maglev', '--jitless', '--lite-mode'].includes(flag)));
  // Whoever wants TurboFan back for the sweeper says --opt, and that choice is kept.
  const opted = relaunchFor({ ...base, execArgv: ['--opt'], env: { ...SERVICE_ENV } }, 'sweeper');
  assert.ok(opted?.argv.includes('--opt') && !opted.argv.includes('--no-opt'), opted?.argv.join(' '));
});

test("each service's flags are ones this Node.js accepts, and the sweeper's leave fetch working (GitHub client)", () => {
  // fetch parses HTTP with undici's WebAssembly build: --jitless or --lite-mode would leave WebAssembly out.
  const script = [
    "const server = require('node:http').createServer((_, res) => res.end('pong'));",
    'server.listen(0, "127.0.0.1", async () => {',
    '  const res = await fetch(`http://127.0.0.1:${server.address().port}/`);',
    '  console.log(typeof WebAssembly, await res.text());',
    '  server.close();',
    '});',
  ].join('\n');
  for (const service of Object.keys(FLAGS) as (keyof typeof FLAGS)[]) {
    const r = spawnSync(process.execPath, [...FLAGS[service], '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${service}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), 'object pong', service);
  }
});

test("the image's ENTRYPOINT passes no V8 flags (each service brings its own) and its ENV carries the settings", () => {
  const stage = parseRuntimeStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
  assert.deepEqual(stage.entrypoint, ['node', 'dist/cli/main.js']);
  for (const [key, value] of Object.entries(SERVICE_ENV)) assert.ok(stage.env.includes(`${key}=${value}`), key);
});

test('`k8s-ee webhook` started bare runs with the settings, in the same process (what /proc shows)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-runtime-'));
  const saved = { ...process.env };
  for (const key of Object.keys(SERVICE_ENV)) delete process.env[key];
  try {
    await writeServingCert(dir, 'runtime-ca');
    const webhook = await startWebhookProcess(dir);
    try {
      const pid = webhook.child.pid ?? 0;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      for (const flag of SERVICE_NODE_FLAGS) assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
      assert.ok(cmdline.includes('webhook') && cmdline.includes('--no-cluster'), cmdline.join(' '));
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      for (const [key, value] of Object.entries(SERVICE_ENV)) assert.ok(environ.includes(`${key}=${value}`), key);
    } finally {
      webhook.child.kill('SIGTERM');
      await new Promise((resolve) => webhook.child.once('exit', resolve));
    }
  } finally {
    Object.assign(process.env, saved); // the test runner's own environment, as it was
    rmSync(dir, { recursive: true, force: true });
  }
});
