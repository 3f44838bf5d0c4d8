// Plain JavaScript, so Node's TypeScript stripping is not counted in its memory.
// The floor for a sweeper pass: a bare Node process that pages through the same lists (namespaces, then the Helm
// release record Secrets as metadata only, 500 a page) and keeps only the names. What reading the cluster costs
// at least. Usage: K8S_SERVER=https://… K8S_CA=file K8S_CERT=file K8S_KEY=file node bench/_list-floor.mjs
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

const env = (k) => process.env[k] ?? '';
const agent = new Agent({
  keepAlive: true,
  ca: readFileSync(env('K8S_CA')),
  cert: readFileSync(env('K8S_CERT')),
  key: readFileSync(env('K8S_KEY')),
});
const METADATA = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

let requests = 0;
function get(path, accept) {
  requests += 1;
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, env('K8S_SERVER')), { agent, headers: { accept } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function names(path, accept) {
  const out = [];
  let cont = '';
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, accept);
    for (const item of page.items ?? []) out.push(item.metadata.name);
    cont = page.metadata?.continue ?? '';
  } while (cont);
  return out;
}

const ns = await names('/api/v1/namespaces', 'application/json');
const secrets = await names(
  '/api/v1/secrets?labelSelector=owner%3Dhelm&fieldSelector=type%3Dhelm.sh%2Frelease.v1',
  METADATA,
);
process.stderr.write(`{"apiRequests":${requests},"namespaces":${ns.length},"records":${secrets.length}}\n`);
agent.destroy();
