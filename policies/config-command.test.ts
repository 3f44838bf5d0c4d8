// `k8s-ee config check FILE` and `k8s-ee config defaults`: what they print and the exit codes scripts rely on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { CliError } from '../cli/errors.ts';
import { run } from './config-command.ts';
import { defaultConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-config-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the command with what it writes synchronously captured (defaults, help, usage). Only that part: the test
 * runner reports on the same stdout while the command awaits, and its lines must not be swallowed.
 */
async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string) => ((out += chunk), true);
  let pending: Promise<number>;
  try {
    pending = run(argv);
  } finally {
    process.stdout.write = write;
  }
  return { code: await pending, out };
}

test('config defaults prints the built-in configuration as YAML', async () => {
  const { code, out } = await capture(['defaults']);
  assert.equal(code, 0);
  assert.deepEqual(parse(out), defaultConfig());
});

test('config check: exit 0 for a valid file, 1 for an invalid or unreadable one', async () => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'previewDomain: pr.acme.dev\n');
  assert.equal(await run(['check', good]), 0);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'pins:\n  maxPinned: -1\n');
  assert.equal(await run(['check', bad]), 1);
  assert.equal(await run(['check', join(dir, 'missing.yaml')]), 1);
});

test('config --help prints the usage; anything else is a usage error (exit 2)', async () => {
  for (const flag of ['--help', '-h']) {
    const { code, out } = await capture([flag]);
    assert.equal(code, 0);
    assert.match(out, /^Usage:\n {2}k8s-ee config check FILE/);
  }
  for (const argv of [[], ['check'], ['nonsense']]) {
    await assert.rejects(capture(argv), (err: unknown) => {
      assert.ok(err instanceof CliError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /^config: expected "check FILE" or "defaults"\n\nUsage:/);
      return true;
    });
  }
});
