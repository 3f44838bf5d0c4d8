// Plain JavaScript, so Node's TypeScript stripping is not counted in its memory.
// The floor for admission: a bare Node HTTPS server that reads the request body and answers one fixed
// AdmissionReview. No routing, parsing, policy, logging or metrics: what any HTTPS webhook in Node costs at least.
// Usage: node bench/_floor.mjs CERT KEY  (prints "listening on https://127.0.0.1:PORT")
// FLOOR_WORK_US=N makes it spin N microseconds of CPU per request first: the calibration rows of bench/webhook.ts,
// which show what ratio any webhook doing that much work reaches on this machine.
// FLOOR_ECHO_UID=1 answers what an API server accepts: the review parsed, its request's uid echoed back (the API
// server refuses an answer whose uid is not the request's), allowed, no patch. The in-cluster calibration of
// bench/in-cluster.ts runs it so in a pod, registered as a webhook pair (FLOOR_HOST 0.0.0.0, FLOOR_PORT fixed).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [cert, key] = process.argv.slice(2);
if (!cert || !key) throw new Error('usage: node bench/_floor.mjs CERT KEY');
const workUs = Number(process.env.FLOOR_WORK_US ?? 0);
const echoUid = process.env.FLOOR_ECHO_UID === '1';
const reviewOf = (uid) =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
const fixed = reviewOf('fixed');
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => void (echoUid && chunks.push(chunk)));
  req.on('end', () => {
    if (workUs > 0) {
      const until = performance.now() + workUs / 1000;
      while (performance.now() < until);
    }
    const answer = echoUid ? reviewOf(JSON.parse(Buffer.concat(chunks).toString()).request.uid) : fixed;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(Number(process.env.FLOOR_PORT ?? 0), process.env.FLOOR_HOST ?? '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening on https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
