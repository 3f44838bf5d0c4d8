import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { readInventory } from './inventory-kube.ts';

/** Answers every list with one empty page and records the paths asked for. */
function recordingHttp(): { http: KubeHttp; paths: string[] } {
  const paths: string[] = [];
  const http: KubeHttp = {
    request: <T>(_method: string, path: string) => {
      paths.push(path);
      return Promise.resolve({ items: [], metadata: {} } as T);
    },
    stream: () => Promise.reject(new Error('no watch here')),
    close: () => undefined,
  };
  return { http, paths };
}

test('readInventory lists namespaces and release records itself, or takes them from the pass that read them', async () => {
  const config = defaultConfig();
  const alone = recordingHttp();
  await readInventory(alone.http, config, undefined);
  assert.ok(alone.paths.includes('/api/v1/namespaces'), alone.paths.join(' '));
  assert.ok(alone.paths.includes('/api/v1/secrets'), alone.paths.join(' '));
  assert.ok(alone.paths.includes('/apis/networking.k8s.io/v1/ingresses'), 'envs shows URLs');

  const sweeper = recordingHttp();
  const read = await readInventory(sweeper.http, config, undefined, {
    urls: false,
    read: { namespaces: [], releases: {} },
  });
  assert.deepEqual(
    sweeper.paths.filter((p) => p.endsWith('/namespaces') || p.endsWith('/secrets') || p.endsWith('/ingresses')),
    [],
    'the sweeper pass does not list again what it has read, nor Ingresses it has no right to',
  );
  assert.deepEqual(read.input.releases, {});
  assert.deepEqual(read.warnings, []);
});
