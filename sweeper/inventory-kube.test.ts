import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../policies/config.ts';
import type { KubeHttp } from '../webhooks/reconciler-http.ts';
import { readCosts, readInventory } from './inventory-kube.ts';

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

test('readCosts: quota requests and bound claim bytes of PR namespaces, page by page; a failed list stays unknown', async () => {
  const config = defaultConfig();
  const quota = (namespace: string, hard: Record<string, string>) => ({
    metadata: { namespace, name: 'k8s-ee-quota', managedFields: [{ manager: 'k8s-ee' }] },
    spec: { hard: { ...hard, pods: '10', 'limits.memory': '1Gi' } },
    status: { hard, used: { 'requests.cpu': '100m' } },
  });
  const claim = (namespace: string, phase: string, storage: string) => ({
    metadata: { namespace, name: 'data' },
    status: { phase, capacity: { storage } },
  });
  const pages: Record<string, Record<string, { items: unknown[]; metadata: { continue?: string } }>> = {
    '/api/v1/resourcequotas': {
      '': {
        items: [
          quota('shop-pr-1', { 'requests.cpu': '300m', 'requests.memory': '512Mi' }),
          quota('kube-system', { 'requests.cpu': '4' }),
        ],
        metadata: { continue: 'p2' },
      },
      p2: {
        items: [
          quota('shop-pr-2', { 'requests.cpu': '300m', 'requests.memory': '512Mi' }),
          quota('shop-pr-3', { cpu: '1', memory: '1Gi' }),
        ],
        metadata: {},
      },
    },
    '/api/v1/persistentvolumeclaims': {
      '': {
        items: [
          claim('shop-pr-1', 'Bound', '1Gi'),
          claim('shop-pr-1', 'Bound', '512Mi'),
          claim('shop-pr-2', 'Pending', '1Gi'),
          claim('default', 'Bound', '5Gi'),
        ],
        metadata: {},
      },
    },
  };
  const asked: string[] = [];
  const http = (failing?: string): KubeHttp => ({
    request: <T>(_method: string, path: string, opts?: { query?: Record<string, string | undefined> }) => {
      asked.push(`${path}?${opts?.query?.['fieldSelector'] ?? ''}`);
      if (path === failing) return Promise.reject(Object.assign(new Error('forbidden'), { code: 403 }));
      const page = pages[path]?.[opts?.query?.['continue'] ?? ''];
      return page ? Promise.resolve(page as T) : Promise.reject(new Error(`unexpected ${path}`));
    },
    stream: () => Promise.reject(new Error('no watch here')),
    close: () => undefined,
  });
  const read = await readCosts(http(), config, []);
  assert.deepEqual(read.warnings, []);
  assert.deepEqual(read.input.quotas, {
    'shop-pr-1': { hard: { 'requests.cpu': '300m', 'requests.memory': '512Mi' } },
    'shop-pr-2': { hard: { 'requests.cpu': '300m', 'requests.memory': '512Mi' } },
    'shop-pr-3': { hard: { cpu: '1', memory: '1Gi' } },
  });
  assert.equal(read.input.quotas?.['shop-pr-1'], read.input.quotas?.['shop-pr-2'], 'equal requests, one object');
  assert.deepEqual(read.input.claimBytes, { 'shop-pr-1': 1.5 * 1024 ** 3 });
  assert.deepEqual(
    [...new Set(asked)].sort(),
    ['/api/v1/persistentvolumeclaims?', '/api/v1/resourcequotas?metadata.name=k8s-ee-quota'],
    'only quotas and claims: no PR states, release records, ConfigMaps or Ingresses for the cost metrics',
  );

  const blind = await readCosts(http('/api/v1/persistentvolumeclaims'), config, []);
  assert.equal(blind.input.claimBytes, undefined);
  assert.deepEqual(blind.warnings, ['PersistentVolumeClaims: HTTP 403']);
  assert.ok(blind.input.quotas?.['shop-pr-1']);
});
