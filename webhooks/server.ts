// The HTTPS admission server: a plain node:http request listener (no framework: five fixed routes, and express
// cost ~20 MiB of memory and a third of the throughput, measured in bench/results.md), each admission route a
// chain of small steps around a pure handler. The requests whose bodies arrive in one turn of the event loop are
// handled together right after it (TurnGate below), and their answers written together (TurnBatch).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { ADMISSION_API_VERSION, decide, parseAdmissionReview, toReview } from './admission.ts';
import { BodyError, parseJson, readBody } from './body.ts';
import { createAdmissionMetrics, type AdmissionMetrics } from './metrics.ts';
import type { Decision, Handler, HandlerContext } from './types.ts';

export interface Route {
  path: string;
  name: string;
  handler: Handler;
}

export interface AppOptions {
  routes: Route[];
  context: HandlerContext;
  registry: Registry;
  maxBodyBytes: number;
  /** Readiness: true, or why not (one line, the body of a 503): the served certificate, the cluster (when used). */
  ready: () => true | string;
}

function decisionLabel(decision: Decision, patched: boolean): string {
  if (decision.allowed) return patched ? 'patched' : 'allowed';
  return decision.code >= 500 ? 'errored' : 'denied';
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const JSON_TYPE = 'application/json; charset=utf-8';

interface Answer {
  res: ServerResponse;
  status: number;
  body: string;
  /** Called once the answer is written (or dropped: the client hung up). */
  written: () => void;
}

/**
 * Work queued in one turn of the event loop, done together right after it (setImmediate runs once the turn's I/O
 * callbacks are done, so an item waits only for the others queued with it, never for a timer). The webhook writes
 * its admission answers this way. Writing each answer as soon as it is ready wakes the API server's reading thread
 * once per answer; written together, the first wakes it and the rest find it awake. The writer pays for a wake-up,
 * and on a VM it is an interrupt through the hypervisor: tens of µs of the webhook's CPU each on the bench machine,
 * more than the policy itself costs (bench/results.md).
 */
export class TurnBatch<T> {
  private pending: T[] = [];
  private scheduled = false;
  private readonly run: (item: T) => void;
  private readonly failed: (err: Error) => void;
  private readonly flush = (): void => {
    const items = this.pending;
    this.pending = [];
    this.scheduled = false;
    for (const item of items) {
      // One item that fails (a socket torn down mid-write) must not cost the others their turn.
      try {
        this.run(item);
      } catch (err) {
        this.failed(err as Error);
      }
    }
  };

  constructor(run: (item: T) => void, failed: (err: Error) => void) {
    this.run = run;
    this.failed = failed;
  }

  add(item: T): void {
    this.pending.push(item);
    this.arm();
  }

  /** Schedules the flush now, before anything is queued: what is added by the time it runs goes with it. */
  arm(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}

/**
 * Holds each admission request whose body has arrived until the turn of the event loop is over, then lets them all
 * go on together. Each step of the pipeline (parse, decide, encode, log) then runs for every request of the turn
 * back to back, its code and data still in the CPU's caches, instead of once between the TLS and HTTP work of every
 * socket, which evicts them: a sixth to a fifth of the webhook's CPU per review at saturation on the bench machine,
 * and a fifth more reviews per second (issue 10's notes). `opened` runs when the first request of a turn arrives: the
 * answers' TurnBatch arms its flush there, so it runs in the same check phase, right after the requests went on. At
 * low load a turn holds one request, and it waits for nothing: its answer was written at the end of the turn anyway.
 */
export class TurnGate {
  private waiting: (() => void)[] = [];
  private readonly opened: () => void;
  private readonly open = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) go();
  };

  constructor(opened: () => void = () => undefined) {
    this.opened = opened;
  }

  /** Resolves once the current turn of the event loop is over, with every other request that arrived in it. */
  pass(): Promise<void> {
    return new Promise((resolve) => {
      if (this.waiting.push(resolve) === 1) {
        setImmediate(this.open);
        this.opened();
      }
    });
  }
}

function writeAnswer(answer: Answer): void {
  try {
    // A client that hung up meanwhile gets nothing.
    if (!answer.res.destroyed) send(answer.res, answer.status, JSON_TYPE, answer.body);
  } finally {
    answer.written();
  }
}

const TEXT_TYPE = 'text/plain; charset=utf-8';

/** An AdmissionReview-shaped refusal, so a human with curl and the API server's logs both read the reason. */
function refusal(status: number, message: string): string {
  return JSON.stringify({
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid: '', allowed: false, status: { code: status, message } },
  });
}

interface Turn {
  gate: TurnGate;
  answers: TurnBatch<Answer>;
}

function admissionRoute(route: Route, options: AppOptions, metrics: AdmissionMetrics, turn: Turn) {
  const { context, maxBodyBytes } = options;
  const recorded = metrics.route(route.name);
  // The admission line carries only the fields below (never an object's content), so it skips the logger's
  // redaction pass: ~20 µs of the ~25 µs a line costs (bench/results.md).
  const log = context.log.child({}, { redact: [] });
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Until the answer is on the wire: the duration and the in-flight gauge include the waits for the turn's end.
    const written = recorded.start();
    try {
      const body = await readBody(req, maxBodyBytes);
      await turn.gate.pass();
      const parsed = parseAdmissionReview(parseJson(body));
      if (!parsed.ok) throw new BodyError(400, parsed.message);
      const { request } = parsed;
      const decision = await decide(route.handler, request, context);
      const review = toReview(request, decision);
      const label = decisionLabel(decision, review.response.patch !== undefined);
      recorded.answered(request.kind.kind, label);
      if (!decision.allowed) for (const v of decision.violations ?? []) recorded.violation(v.rule);
      const line = {
        uid: request.uid,
        kind: request.kind.kind,
        namespace: request.namespace,
        name: request.name,
        operation: request.operation,
        user: request.userInfo.username,
        route: route.name,
        decision: label,
      };
      if (decision.allowed) log.info(line, 'admission');
      else log.info({ ...line, message: review.response.status?.message }, 'admission denied');
      turn.answers.add({ res, status: 200, body: JSON.stringify(review), written });
    } catch (err) {
      const status = err instanceof BodyError ? err.status : 500;
      recorded.refused(status);
      context.log.warn({ route: route.name, status, err: (err as Error).message }, 'admission request refused');
      turn.answers.add({ res, status, body: refusal(status, (err as Error).message), written });
    }
  };
}

/** The request listener of the webhook's HTTPS (and optional plain HTTP) servers. */
export function createApp(options: AppOptions): RequestListener {
  const metrics = createAdmissionMetrics(options.registry);
  const answers = new TurnBatch(writeAnswer, (err) =>
    options.context.log.warn({ err: err.message }, 'admission answer could not be written'),
  );
  const turn = { answers, gate: new TurnGate(() => answers.arm()) };
  const admission = new Map(options.routes.map((route) => [route.path, admissionRoute(route, options, metrics, turn)]));
  const routeList = options.routes.map((r) => `POST ${r.path}`).join(', ');
  const metricsText = async (res: ServerResponse): Promise<void> => {
    try {
      send(res, 200, options.registry.contentType, await options.registry.metrics());
    } catch (err) {
      send(res, 500, TEXT_TYPE, `could not collect metrics: ${(err as Error).message}\n`);
    }
  };
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const method = req.method ?? 'GET';
    const route = method === 'POST' ? admission.get(path) : undefined;
    if (route) return void route(req, res);
    if (method === 'GET' || method === 'HEAD') {
      if (path === '/healthz') return send(res, 200, TEXT_TYPE, 'ok\n');
      if (path === '/readyz') {
        const ready = options.ready();
        return send(res, ready === true ? 200 : 503, TEXT_TYPE, ready === true ? 'ready\n' : `not ready: ${ready}\n`);
      }
      if (path === '/metrics') return void metricsText(res);
    }
    req.resume();
    send(res, 404, TEXT_TYPE, `no route for ${method} ${path}; admission routes: ${routeList}\n`);
  };
}
