// Plain JavaScript, so Node's TypeScript stripping is not counted in its memory.
// The floor for admission: a bare Node HTTPS server that reads the request body and answers one fixed
// AdmissionReview. No routing, parsing, policy, logging or metrics: what any HTTPS webhook in Node costs at least.
// Usage: node bench/_floor.mjs CERT KEY  (prints "listening on https://127.0.0.1:PORT")
// FLOOR_WORK_US=N makes it spin N microseconds of CPU per request first: the calibration rows of bench/webhook.ts,
// which show what ratio any webhook doing that much work reaches on this machine.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [cert, key] = process.argv.slice(2);
if (!cert || !key) throw new Error('usage: node bench/_floor.mjs CERT KEY');
const workUs = Number(process.env.FLOOR_WORK_US ?? 0);
const answer = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: 'fixed', allowed: true },
});
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    if (workUs > 0) {
      const until = performance.now() + workUs / 1000;
      while (performance.now() < until);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening on https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
