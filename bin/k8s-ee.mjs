#!/usr/bin/env node
// Launcher for the k8s-ee CLI. It runs cli/main.ts on Node.js 24, which strips TypeScript types natively.
// When the node on PATH is older (the machine's own Node.js 20, say), it re-runs itself on the Node 24
// binary that the `node` devDependency puts in node_modules/.bin, so `npx k8s-ee` works from any shell.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
const source = join(root, 'cli', 'main.ts');
const entry = existsSync(source) ? source : built;
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(entry);
} else {
  const local = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(local)) {
    console.error(
      `k8s-ee needs Node.js 24 or newer (this is ${process.version}). Run \`npm ci\` in ${root} to get it.`,
    );
    process.exit(1);
  }
  const run = spawnSync(local, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
