import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Agent, createServer, request } from './node-http.ts';

// Loads the services' command modules (and all they import) in a fresh process, and lists what Node loaded.
function loadedBy(modules: string[]): string[] {
  const script = `${modules.map((m) => `await import(${JSON.stringify(new URL(m, import.meta.url).href)});`).join('\n')}
process.stdout.write(JSON.stringify(process.moduleLoadList));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

// The certs command is not here: it uses client-node (lib/kube.ts), which brings undici with it.
test('the webhook and the sweeper never load undici: node:http comes through require()', () => {
  const loaded = loadedBy([
    '../webhooks/command.ts',
    '../webhooks/reconciler.ts',
    '../webhooks/cluster-services.ts',
    '../sweeper/command.ts',
    '../sweeper/release-watch.ts',
    '../sweeper/inventory-kube.ts',
  ]);
  assert.ok(loaded.includes('NativeModule http'), 'node:http itself is loaded');
  assert.deepEqual(
    loaded.filter((m) => m.includes('undici')),
    [],
  );
  // The check can fail: an ESM import of node:http does load it.
  assert.ok(loadedBy(['./node-http.ts', 'node:http']).some((m) => m.includes('undici')));
});

test('what it exports is node:http', async () => {
  const http = await import('node:http');
  assert.equal(Agent, http.Agent);
  assert.equal(createServer, http.createServer);
  assert.equal(request, http.request);
});
