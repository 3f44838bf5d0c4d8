// Admission throughput and latency of the real `k8s-ee webhook --no-cluster` process over HTTPS.
// Closed loop (autocannon, 50 keep-alive connections) for throughput; an evenly spaced open loop for latency at a
// fixed rate (autocannon's -R sends in bursts, which inflates tail latency: ARCHITECTURE.md section 9).
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWebhookProcess, writeServingCert } from '../webhooks/testing/process.ts';
import { review } from '../webhooks/testing/review.ts';

const DURATION_S = Number(process.env['BENCH_SECONDS'] ?? 8);

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop-pr-42' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 8080 }] }] },
    },
  },
};
const privilegedPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'evil', namespace: 'shop-pr-42' },
  spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
};

async function startWebhook(dir: string): Promise<{ child: ChildProcess; port: number; ca: string }> {
  const { caPem } = await writeServingCert(dir, 'bench-ca');
  const { child, port } = await startWebhookProcess(dir);
  return { child, port, ca: caPem };
}

async function closedLoop(
  port: number,
  ca: string,
  path: string,
  body: string,
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}${path}`,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    connections: 50,
    duration: DURATION_S,
    tlsOptions: { ca },
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function openLoop(
  port: number,
  ca: string,
  path: string,
  body: string,
  rate: number,
): Promise<{ sent: number; p50: number; p95: number; p99: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca });
  const latencies: number[] = [];
  let errors = 0;
  const total = rate * DURATION_S;
  const interval = 1000 / rate;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      new Promise<void>((resolve) => {
        const t0 = performance.now();
        const req = request(
          { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () => {
              latencies.push(performance.now() - t0);
              if (res.statusCode !== 200) errors += 1;
              resolve();
            });
          },
        );
        req.on('error', () => {
          errors += 1;
          resolve();
        });
        req.end(body);
      }),
    );
  }
  await Promise.all(inflight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sent: total,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-bench-'));
const { child, port, ca } = await startWebhook(dir);
try {
  const mutateBody = JSON.stringify(review(deployment, 'Deployment'));
  const denyBody = JSON.stringify(review(privilegedPod, 'Pod'));
  const rows: string[] = [];
  for (const [name, path, body] of [
    ['mutate Deployment (patch)', '/mutate', mutateBody],
    ['validate privileged Pod (deny)', '/validate', denyBody],
  ] as const) {
    const r = await closedLoop(port, ca, path, body);
    rows.push(
      `| ${name} | closed loop, 50 conns | ${Math.round(r.rps)} req/s | p50 ${r.p50} ms | p99 ${r.p99} ms | ${r.errors} |`,
    );
  }
  for (const rate of [200, 1000]) {
    const r = await openLoop(port, ca, '/validate', denyBody, rate);
    rows.push(
      `| validate privileged Pod (deny) | open loop, ${rate} req/s evenly spaced | ${r.sent} sent | p50 ${r.p50.toFixed(2)} ms | p95 ${r.p95.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms | ${r.errors} |`,
    );
  }
  process.stdout.write(
    `\nk8s-ee webhook over HTTPS, Node ${process.versions.node}, ${DURATION_S}s per row, load generator on the same machine\n\n`,
  );
  process.stdout.write('| request | load | throughput | latency | tail | errors |\n|---|---|---|---|---|---|\n');
  process.stdout.write(`${rows.join('\n')}\n`);
} finally {
  child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
