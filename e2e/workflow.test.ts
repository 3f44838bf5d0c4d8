// The reusable GitHub Actions workflow (.github/workflows/k8s-ee-preview.yml) and its example caller
// (docs/examples/preview.yml): actionlint accepts both (the caller also against the reusable workflow's declared
// inputs and secrets), the workflow reaches the cluster only through plain helm (upgrade --install, uninstall,
// template) after `k8s-ee prepare` (the PR namespace and the CI identity's RoleBinding there) and never kubectl, its triggers, permissions and concurrency are as documented, and its comment
// script creates one comment per environment and then updates it, with the URL the app chart itself gives
// (http or https as its Ingress says) and, when a Grafana URL is configured, a link to the environment's dashboard.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { projectRoot, toolsBinDir } from '../local/cluster/paths.ts';
import { findGo } from '../local/cluster/setup.ts';
import { findHelm, parseObjects, runHelm, withValuesFile, type HelmResult } from '../charts/render.ts';
import { runCommand } from '../local/harness/cluster.ts';

const WORKFLOW = join(projectRoot, '.github', 'workflows', 'k8s-ee-preview.yml');
const EXAMPLE = join(projectRoot, 'docs', 'examples', 'preview.yml');
const ACTIONLINT_MODULE = 'github.com/rhysd/actionlint/cmd/actionlint';
const ACTIONLINT_VERSION = 'v1.7.12';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- finding (or building) actionlint ----

function inDirs(dirs: string[], name: string): string | undefined {
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

/** Builds actionlint with `go install` into .cache/tools/bin, through a temporary folder (a half build never counts). */
async function buildActionlint(go: string): Promise<string> {
  await mkdir(toolsBinDir, { recursive: true });
  const tmp = await mkdtemp(join(toolsBinDir, '.build-'));
  try {
    const started = Date.now();
    console.log(`e2e/workflow: building actionlint ${ACTIONLINT_VERSION} with ${go} into ${toolsBinDir}`);
    await runCommand(go, ['install', `${ACTIONLINT_MODULE}@${ACTIONLINT_VERSION}`], {
      env: { ...process.env, GOBIN: tmp, CGO_ENABLED: '0' },
    });
    const target = join(toolsBinDir, 'actionlint');
    await rename(join(tmp, 'actionlint'), target);
    console.log(`e2e/workflow: actionlint built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** actionlint from PATH, $(go env GOPATH)/bin or .cache/tools/bin; built there when absent; or why not. */
async function findActionlint(): Promise<{ path: string } | { skip: string }> {
  const onPath = inDirs((process.env['PATH'] ?? '').split(delimiter).filter(Boolean), 'actionlint');
  if (onPath) return { path: onPath };
  const go = findGo();
  const gopath = go ? (await runCommand(go, ['env', 'GOPATH'])).stdout.trim() : '';
  const gopathBins = gopath
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, 'bin'));
  const found = inDirs([...gopathBins, toolsBinDir], 'actionlint');
  if (found) return { path: found };
  if (!go)
    return { skip: 'no actionlint on PATH and no Go toolchain (go on PATH or /usr/local/go/bin/go) to build it' };
  return { path: await buildActionlint(go) };
}

// ---- what the workflow runs ----

const SKIPPED_WORDS = new Set(['if', 'then', 'elif', 'else', 'while', 'until', 'do', '!', '{', '(', 'time', 'exec']);
const WRAPPERS = new Set(['sudo', 'env', 'command']);

/** The simple commands of a shell script, each as its words (line continuations joined, comment lines dropped). */
function shellCommands(script: string): string[][] {
  const text = script
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
  return text
    .split(/\|\||&&|[|;\n]|\$\(|`/)
    .map((command) =>
      command
        .trim()
        .split(/\s+/)
        .map((w) => w.replace(/^["']|["']$/g, ''))
        .filter(Boolean),
    )
    .map((words) => {
      let i = 0;
      while (i < words.length) {
        const w = words[i] ?? '';
        if (SKIPPED_WORDS.has(w) || WRAPPERS.has(w) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) i++;
        else break;
      }
      return words.slice(i);
    })
    .filter((words) => words.length > 0);
}

function isTool(word: string | undefined, tool: string): boolean {
  return word === tool || (word ?? '').endsWith(`/${tool}`);
}

/** Why a helm command is not one the workflow may run (undefined when it may). */
function helmCommandProblem(words: string[]): string | undefined {
  const sub = words.slice(1).find((w) => !w.startsWith('-'));
  if (sub === 'template' || sub === 'uninstall') return undefined;
  if (sub === 'upgrade') return words.includes('--install') || words.includes('-i') ? undefined : 'without --install';
  return `"helm ${sub ?? ''}" is not one of helm upgrade --install, helm uninstall, helm template`;
}

function allStrings(value: unknown, path: string, out: { path: string; text: string }[]): void {
  if (typeof value === 'string') out.push({ path, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => allStrings(v, `${path}[${i}]`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) allStrings(v, path ? `${path}.${k}` : k, out);
}

/** Every way the workflow breaks the rule "plain helm only, never kubectl", with where. */
function clusterAccessProblems(workflow: Json): string[] {
  const problems: string[] = [];
  for (const [jobId, job] of Object.entries((workflow['jobs'] ?? {}) as Record<string, Json>)) {
    for (const [i, step] of ((job['steps'] ?? []) as Json[]).entries()) {
      if (typeof step['run'] !== 'string') continue;
      for (const words of shellCommands(step['run'])) {
        const where = `jobs.${jobId}.steps[${i}] (${String(step['name'] ?? 'unnamed')})`;
        if (isTool(words[0], 'kubectl')) problems.push(`${where}: runs kubectl: ${words.join(' ')}`);
        const problem = isTool(words[0], 'helm') ? helmCommandProblem(words) : undefined;
        if (problem) problems.push(`${where}: ${words.join(' ')}: ${problem}`);
      }
    }
  }
  const strings: { path: string; text: string }[] = [];
  allStrings(workflow, '', strings);
  for (const s of strings.filter((s) => /\bkubectl\b/i.test(s.text))) problems.push(`${s.path}: mentions kubectl`);
  return problems;
}

function helmCommands(workflow: Json): { job: string; words: string[] }[] {
  return Object.entries((workflow['jobs'] ?? {}) as Record<string, Json>).flatMap(([job, j]) =>
    ((j['steps'] ?? []) as Json[])
      .filter((s) => typeof s['run'] === 'string')
      .flatMap((s) => shellCommands(String(s['run'])).filter((w) => isTool(w[0], 'helm')))
      .map((words) => ({ job, words })),
  );
}

const loadYaml = async (file: string): Promise<Json> => parse(await readFile(file, 'utf8')) as Json;
const actionlint = await findActionlint();
if ('skip' in actionlint) console.log(`e2e/workflow: actionlint checks skipped: ${actionlint.skip}`);

describe('the reusable preview workflow', () => {
  test(
    'actionlint accepts the workflow and the example caller (checked against its inputs and secrets)',
    { skip: 'skip' in actionlint ? actionlint.skip : false, timeout: 600_000 },
    async (t) => {
      if (!('path' in actionlint)) return;
      const direct = await runCommand(actionlint.path, ['-no-color', '-oneline', WORKFLOW, EXAMPLE], {
        allowFail: true,
      });
      assert.equal(direct.code, 0, `actionlint found problems:\n${direct.stdout}${direct.stderr}`);
      // The caller calls the workflow by repository; in a scratch repository it calls the local copy instead, so
      // actionlint also checks every input and secret it passes against the workflow's own declaration.
      const dir = await mkdtemp(join(tmpdir(), 'k8s-ee-actionlint-'));
      try {
        const workflows = join(dir, '.github', 'workflows');
        await mkdir(workflows, { recursive: true });
        await mkdir(join(dir, '.git'));
        await writeFile(join(workflows, 'k8s-ee-preview.yml'), await readFile(WORKFLOW, 'utf8'));
        const example = await readFile(EXAMPLE, 'utf8');
        const local = example.replace(
          /uses: \S+\/\.github\/workflows\/k8s-ee-preview\.yml@\S+/,
          'uses: ./.github/workflows/k8s-ee-preview.yml',
        );
        assert.notEqual(local, example, 'the example caller does not `uses:` the k8s-ee-preview.yml workflow');
        await writeFile(join(workflows, 'preview.yml'), local);
        const files = ['preview.yml', 'k8s-ee-preview.yml'].map((f) => join(workflows, f));
        const scratch = await runCommand(actionlint.path, ['-no-color', '-oneline', ...files], { allowFail: true });
        t.diagnostic(`actionlint ${actionlint.path}: ${scratch.stdout || 'no problems'}`);
        assert.equal(
          scratch.code,
          0,
          `actionlint (caller against the local workflow):\n${scratch.stdout}${scratch.stderr}`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  test('the workflow reaches the cluster only with helm upgrade --install, helm uninstall and helm template', async () => {
    const workflow = await loadYaml(WORKFLOW);
    assert.deepEqual(clusterAccessProblems(workflow), []);
    assert.deepEqual(clusterAccessProblems(await loadYaml(EXAMPLE)), []);
    const calls = helmCommands(workflow).map((c) => `${c.job}: helm ${c.words[1] ?? ''}`);
    assert.deepEqual(calls.sort(), ['deploy: helm template', 'deploy: helm upgrade', 'uninstall: helm uninstall']);

    // The checker itself catches what it must.
    const bad = {
      on: { workflow_call: {} },
      jobs: {
        a: {
          steps: [
            { name: 'rollback', run: 'helm rollback shop-pr-1 -n shop-pr-1' },
            { name: 'plain upgrade', run: 'set -e\nKUBECONFIG=x helm upgrade shop-pr-1 charts/app \\\n  -n shop-pr-1' },
            { name: 'kubectl', run: 'echo ok && sudo kubectl delete ns shop-pr-1' },
            { name: 'nested', run: 'out="$(helm status shop-pr-1)"' },
            { uses: 'azure/setup-kubectl@v4' },
            {
              name: 'fine',
              run: 'helm upgrade --install a b\nhelm uninstall a -n a\nhelm template a b | npx k8s-ee check -',
            },
          ],
        },
      },
    };
    const problems = clusterAccessProblems(bad);
    assert.equal(problems.filter((p) => p.includes('(fine)')).length, 0, problems.join('\n'));
    for (const expected of ['helm rollback', 'without --install', 'runs kubectl', 'helm status', 'steps[4].uses']) {
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `no problem mentions ${expected}:\n${problems.join('\n')}`,
      );
    }
  });

  test('inputs, triggers, the helm and check commands, permissions and concurrency', async () => {
    const workflow = await loadYaml(WORKFLOW);
    const call = workflow['on']['workflow_call'] as Json;
    assert.equal(call['inputs']['chart']['default'], 'charts/k8s-ee-app');
    assert.equal(call['inputs']['values']['default'], 'k8s-ee.yaml');
    for (const input of ['project', 'preview-domain', 'image']) assert.equal(call['inputs'][input]['required'], true);
    assert.equal(call['secrets']['kubeconfig']['required'], true);
    assert.ok(call['secrets']['registry-username'] && call['secrets']['registry-password']);
    assert.match(
      workflow['env']['NAMESPACE'],
      /^\$\{\{ inputs\.project \}\}-pr-\$\{\{ github\.event\.pull_request\.number \}\}$/,
    );
    // No URL is assumed (https or not): it comes from the rendered chart (see the scheme test below).
    assert.equal(workflow['env']['PREVIEW_URL'], undefined);
    assert.equal(call['inputs']['grafana-url']['default'], '');

    const { deploy, uninstall, comment } = workflow['jobs'] as Record<string, Json>;
    assert.ok(deploy && uninstall && comment);
    for (const action of ['opened', 'synchronize', 'reopened']) assert.ok(String(deploy['if']).includes(`"${action}"`));
    assert.match(String(uninstall['if']), /github\.event\.action == 'closed'/);

    // Least privilege: nothing at the top, each job only what it uses.
    assert.deepEqual(workflow['permissions'], {});
    assert.deepEqual(deploy['permissions'], { contents: 'read', packages: 'write' });
    assert.deepEqual(uninstall['permissions'], {});
    assert.deepEqual(comment['permissions'], { 'pull-requests': 'write' });

    // Per PR: deploys cancel each other, the uninstall waits in the same group and is never cancelled.
    assert.equal(deploy['concurrency']['group'], uninstall['concurrency']['group']);
    assert.match(deploy['concurrency']['group'], /inputs\.project.*github\.event\.pull_request\.number/);
    assert.equal(deploy['concurrency']['cancel-in-progress'], true);
    assert.equal(uninstall['concurrency']['cancel-in-progress'], false);

    const steps = deploy['steps'] as Json[];
    const uses = steps.map((s) => String(s['uses'] ?? '').split('@')[0]);
    assert.ok(uses.includes('docker/build-push-action'));
    const runs = steps.map((s) => String(s['run'] ?? '').replace(/\\\n\s*/g, ''));
    const check = runs.find((r) => r.includes('helm template'));
    assert.match(check ?? '', /helm template "\$NAMESPACE" .*\| npx .*k8s-ee check -n "\$NAMESPACE" .*-$/m);
    const upgrade = runs.find((r) => r.includes('helm upgrade'));
    assert.ok(upgrade, 'no helm upgrade step');
    for (const part of [
      'helm upgrade --install "$NAMESPACE"',
      '-n "$NAMESPACE" --create-namespace',
      '-f "$VALUES"',
      '--set-string image.tag="$HEAD_SHA"',
      '--wait',
    ])
      assert.ok(upgrade.includes(part), `the deploy step lacks ${part}:\n${upgrade}`);
    assert.ok(runs.indexOf(check ?? '') < uses.indexOf('docker/build-push-action'), 'check before building');
    assert.ok(uses.indexOf('docker/build-push-action') < runs.indexOf(upgrade), 'push before deploying');
    // The CI identity has rights only inside PR namespaces: `k8s-ee prepare` makes the namespace and its RoleBinding
    // before helm lists the release's records there (docs/runbooks/runners.md).
    const prepare = runs.findIndex((r) => r.includes('k8s-ee prepare'));
    assert.ok(prepare >= 0, 'no k8s-ee prepare step');
    assert.match(
      runs[prepare]!,
      /^npx --no-install --prefix "\$GITHUB_WORKSPACE\/\.k8s-ee" k8s-ee prepare "\$NAMESPACE"$/,
    );
    assert.ok(runs.findIndex((r) => r.includes('KUBECONFIG=')) < prepare, 'the kubeconfig is written before');
    assert.ok(prepare < runs.indexOf(upgrade), 'prepare before helm upgrade --install');

    // The example caller: the four pull_request actions, every permission the jobs ask for, no concurrency.
    const example = await loadYaml(EXAMPLE);
    assert.deepEqual(example['on']['pull_request']['types'], ['opened', 'synchronize', 'reopened', 'closed']);
    assert.equal(example['concurrency'], undefined);
    const granted = example['permissions'] as Record<string, string>;
    for (const job of [deploy, uninstall, comment])
      for (const [scope, level] of Object.entries(job['permissions'] as Record<string, string>))
        assert.ok(
          granted[scope] === 'write' || (level === 'read' && granted[scope] === 'read'),
          `the example caller must grant ${scope}: ${level}`,
        );
  });

  test('the comment script creates one comment per environment, then updates it (found by its hidden marker)', async () => {
    const workflow = await loadYaml(WORKFLOW);
    const step = ((workflow['jobs']['comment']['steps'] ?? []) as Json[]).find((s) =>
      String(s['uses']).startsWith('actions/github-script@'),
    );
    const script = String(step?.['with']?.['script'] ?? '');
    assert.ok(script, 'no actions/github-script step in the comment job');
    type Comment = { id: number; body: string };
    const comments: Comment[] = [{ id: 1, body: '> <!-- k8s-ee-preview:shop-pr-42 --> quoted by a human' }];
    const calls: string[] = [];
    const github = {
      rest: {
        issues: {
          listComments: 'listComments',
          createComment: (p: { body: string }) => {
            calls.push('create');
            comments.push({ id: comments.length + 1, body: p.body });
            return Promise.resolve({});
          },
          updateComment: (p: { comment_id: number; body: string }) => {
            calls.push(`update ${p.comment_id}`);
            const c = comments.find((x) => x.id === p.comment_id);
            if (c) c.body = p.body;
            return Promise.resolve({});
          },
        },
      },
      paginate: (method: string, p: { issue_number: number }) => {
        assert.equal(method, 'listComments');
        assert.equal(p.issue_number, 42);
        return Promise.resolve(comments.map((c) => ({ ...c })));
      },
    };
    const context = {
      repo: { owner: 'acme', repo: 'shop' },
      payload: { pull_request: { number: 42 } },
      serverUrl: 'https://github.com',
      runId: 7,
    };
    const env = (extra: Record<string, string>) => ({
      env: {
        NAMESPACE: 'shop-pr-42',
        PREVIEW_URL: 'https://shop-pr-42.preview.example.com',
        HEAD_SHA: '0123456789abcdef',
        ...extra,
      },
    });
    // github-script runs the script as the body of an async function with these names in scope.
    const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (
      ...args: string[]
    ) => (...args: unknown[]) => Promise<void>;
    const run = new AsyncFunction('github', 'context', 'process', script);

    await run(github, context, env({ DEPLOY_RESULT: 'success', UNINSTALL_RESULT: 'skipped' }));
    assert.deepEqual(calls, ['create']);
    const mine = comments[1]?.body ?? '';
    assert.ok(mine.startsWith('<!-- k8s-ee-preview:shop-pr-42 -->'), mine);
    assert.match(mine, /Deployed `0123456`: \*\*https:\/\/shop-pr-42\.preview\.example\.com\*\*/);
    assert.doesNotMatch(mine, /Grafana|Dashboard/, 'no dashboard link without a Grafana URL');

    await run(github, context, env({ DEPLOY_RESULT: 'failure', UNINSTALL_RESULT: 'skipped' }));
    await run(github, context, env({ DEPLOY_RESULT: 'skipped', UNINSTALL_RESULT: 'success' }));
    assert.deepEqual(calls, ['create', 'update 2', 'update 2']);
    assert.equal(comments.length, 2, 'still one comment of ours');
    assert.match(comments[1]?.body ?? '', /Removed/);
    assert.equal(comments[0]?.body, '> <!-- k8s-ee-preview:shop-pr-42 --> quoted by a human');

    // The comment's URL is the deploy job's output as it is (http here), never rewritten to https.
    const deployed = { DEPLOY_RESULT: 'success', UNINSTALL_RESULT: 'skipped' };
    await run(github, context, env({ ...deployed, PREVIEW_URL: 'http://shop-pr-42.preview.example.com' }));
    assert.match(comments[1]?.body ?? '', /Deployed `0123456`: \*\*http:\/\/shop-pr-42\.preview\.example\.com\*\*/);
    await run(github, context, env({ ...deployed, PREVIEW_URL: '' }));
    assert.match(comments[1]?.body ?? '', /no Ingress of the chart routes the environment's host/);
    assert.doesNotMatch(comments[1]?.body ?? '', /Deployed `0123456`: \*\*/);

    // With a Grafana URL: the dashboard opened on the environment's namespace, for a deploy and a failed one.
    const grafana = {
      GRAFANA_URL: 'https://grafana.example.com/',
      GRAFANA_DASHBOARD: 'd/85a562078cdf77779eaa1add43ccec1e/kubernetes-compute-resources-namespace-pods',
    };
    const link =
      '(https://grafana.example.com/d/85a562078cdf77779eaa1add43ccec1e/kubernetes-compute-resources-namespace-pods?var-namespace=shop-pr-42)';
    for (const result of ['success', 'failure']) {
      await run(github, context, env({ ...grafana, DEPLOY_RESULT: result, UNINSTALL_RESULT: 'skipped' }));
      assert.ok(
        (comments[1]?.body ?? '').includes(`Dashboard: [Grafana, namespace \`shop-pr-42\`]${link}`),
        comments[1]?.body,
      );
    }
    await run(github, context, env({ ...grafana, GRAFANA_DASHBOARD: '/d/abc/env?orgId=2', ...deployed }));
    assert.ok(
      (comments[1]?.body ?? '').includes('(https://grafana.example.com/d/abc/env?orgId=2&var-namespace=shop-pr-42)'),
    );
    await run(github, context, env({ ...grafana, DEPLOY_RESULT: 'skipped', UNINSTALL_RESULT: 'success' }));
    assert.doesNotMatch(comments[1]?.body ?? '', /Grafana/, 'a removed environment has no dashboard to show');
    assert.equal(comments.length, 2);

    // The workflow passes what the script reads: the deploy job's URL output and the Grafana inputs.
    const commentEnv = step?.['env'] as Record<string, string>;
    assert.equal(commentEnv['PREVIEW_URL'], '${{ needs.deploy.outputs.preview-url }}');
    assert.equal(commentEnv['GRAFANA_URL'], '${{ inputs.grafana-url }}');
    assert.equal(commentEnv['GRAFANA_DASHBOARD'], '${{ inputs.grafana-dashboard }}');
  });

  test('the PR comment and the app chart say the same URL: http without TLS, https with it', async () => {
    const workflow = await loadYaml(WORKFLOW);
    const deploy = workflow['jobs']['deploy'] as Json;
    const steps = deploy['steps'] as Json[];
    // The deploy job's output is the URL its check step works out from the same rendered manifests it checks.
    const check = steps.find((s) => s['id'] === 'check');
    assert.ok(check, 'no step with id "check"');
    assert.equal(deploy['outputs']['preview-url'], '${{ steps.check.outputs.url }}');
    const script = String(check['run']);
    assert.match(script, /\| tee "\$RUNNER_TEMP\/k8s-ee-rendered\.yaml" \\\n\s*\| npx .*k8s-ee check/);
    const urlLine =
      /^url="\$\(node "\$GITHUB_WORKSPACE\/\.k8s-ee\/(\S+)" "\$NAMESPACE\.\$PREVIEW_DOMAIN" < "\$RUNNER_TEMP\/k8s-ee-rendered\.yaml"\)"$/m.exec(
        script,
      );
    assert.ok(urlLine?.[1], `the check step does not work out the URL:\n${script}`);
    assert.match(script, /^echo "url=\$url" >> "\$GITHUB_OUTPUT"$/m);
    const scriptFile = join(projectRoot, urlLine[1]);

    const helm = await findHelm();
    assert.ok(helm, 'helm (npm ci)');
    const namespace = 'shop-pr-42';
    const domain = 'preview.example.com';
    for (const [tls, scheme] of [
      [false, 'http'],
      [true, 'https'],
    ] as const) {
      const values = {
        previewDomain: domain,
        image: { repository: 'ghcr.io/acme/shop', tag: 'abc' },
        ingress: { tls: { enabled: tls }, subdomains: ['api'] },
      };
      const chartDir = join(projectRoot, 'charts', 'k8s-ee-app');
      const both = async (file: string): Promise<[HelmResult, HelmResult]> => [
        await runHelm(helm, ['template', namespace, chartDir, '-n', namespace, '-f', file]),
        await runHelm(helm, ['install', namespace, chartDir, '-n', namespace, '-f', file, '--dry-run=client']),
      ];
      const [rendered, installed] = await withValuesFile(values, both);
      assert.equal(rendered.code, 0, rendered.stderr);
      assert.equal(installed.code, 0, installed.stderr);
      // What the workflow comments: the step's own command on the rendered manifests.
      const fromWorkflow = await runCommand(process.execPath, [scriptFile, `${namespace}.${domain}`], {
        input: rendered.stdout,
      });
      const url = fromWorkflow.stdout.trim();
      assert.equal(url, `${scheme}://${namespace}.${domain}`);
      // What the chart says: the app's PREVIEW_URL and the NOTES helm prints after the install.
      const app = parseObjects(rendered.stdout).find((o) => o.kind === 'Deployment') as Json | undefined;
      const envs = (app?.['spec']['template']['spec']['containers'][0]['env'] ?? []) as Json[];
      assert.equal(envs.find((e) => e['name'] === 'PREVIEW_URL')?.['value'], url, `PREVIEW_URL with tls ${tls}`);
      const notes = installed.stdout.slice(installed.stdout.indexOf('NOTES:'));
      assert.ok(notes.includes(`  ${url}\n`), `NOTES with tls ${tls}:\n${notes}`);
    }
    // A chart without an Ingress for the host has no URL (the comment says so instead of guessing).
    const none = await runCommand(process.execPath, [scriptFile, `${namespace}.${domain}`], {
      input: 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\n',
    });
    assert.equal(none.stdout, '');
  });
});
