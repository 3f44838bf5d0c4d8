// The admission server's request handling: five fixed routes (no framework: express cost ~20 MiB of memory and a
// third of the throughput, measured in bench/results.md), each admission route a chain of small steps around a pure
// handler. Served two ways from one App: HTTP/1.1 straight on the TLS connections of the HTTPS port
// (webhooks/http1.ts: node:http's per-request machinery cost more CPU than a namespace review's policy), and a
// node:http request listener for the optional plain-HTTP metrics port. The requests whose bodies arrive in one turn
// of the event loop are handled together right after it (TurnGate below), and their answers written together
// (TurnBatch).
import type { RequestListener, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { ADMISSION_API_VERSION, decide, encodeAnswer, parseAdmissionReview, type EncodedAnswer } from './admission.ts';
import { BodyError, parseJson, readBody } from './body.ts';
import { createAdmissionMetrics, type AdmissionMetrics } from './metrics.ts';
import { infoLineWriter, unredacted } from '../lib/log.ts';
import { createHttp1Server, type Http1Server, type Reply } from './http1.ts';
import type { AdmissionRequest, Decision, Handler, HandlerContext } from './types.ts';

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

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const JSON_TYPE = 'application/json; charset=utf-8';

interface Answer {
  reply: Reply;
  status: number;
  body: string | Buffer;
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
  private readonly failed: (err: Error) => void;
  private readonly open = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) {
      // One request whose step throws must not cost the others their turn.
      try {
        go();
      } catch (err) {
        this.failed(err as Error);
      }
    }
  };

  constructor(opened: () => void = () => undefined, failed: (err: Error) => void = () => undefined) {
    this.opened = opened;
    this.failed = failed;
  }

  /** Runs `go` once the current turn of the event loop is over, with every other request that arrived in it. */
  enter(go: () => void): void {
    if (this.waiting.push(go) === 1) {
      setImmediate(this.open);
      this.opened();
    }
  }

  /** `enter` as a promise. */
  pass(): Promise<void> {
    return new Promise((resolve) => this.enter(resolve));
  }
}

function writeAnswer(answer: Answer): void {
  try {
    answer.reply(answer.status, JSON_TYPE, answer.body);
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

/** The admission line's fields, in the order they are written. */
const LINE_KEYS = ['uid', 'kind', 'namespace', 'name', 'operation', 'user', 'route', 'decision', 'message'] as const;

/** One admission route, for both front ends: the node:http listener and the HTTP/1.1 connections (http1.ts). */
interface AdmissionRoute {
  /** A request arrived: counts it in flight; call the result once its answer is written. */
  start(): () => void;
  /** Judges a request whose body has arrived, once the turn is over. */
  judge(body: Buffer, reply: Reply, written: () => void): void;
  /** Refuses a request whose body could not be read (too large, broken stream). */
  refuse(err: unknown, reply: Reply, written: () => void): void;
}

/**
 * One admission route: the turn's end awaited, the review parsed and decided, the answer queued for the turn's
 * TurnBatch, a line logged and the metrics counted. Callbacks, not awaits: a review that waits for nothing (no
 * cluster call) allocates no promise, and runs in one go once its turn opens (issue 10's notes).
 */
function admissionRoute(route: Route, options: AppOptions, metrics: AdmissionMetrics, turn: Turn): AdmissionRoute {
  const { context } = options;
  const recorded = metrics.route(route.name);
  // The admission line carries only the fields below (never an object's content): no redaction, and serialized
  // directly into the logger's stream (lib/log.ts infoLineWriter).
  const logLine = infoLineWriter(unredacted(context.log), LINE_KEYS);

  function refuse(err: unknown, reply: Reply, written: () => void): void {
    const status = err instanceof BodyError ? err.status : 500;
    const message = err instanceof Error ? err.message : String(err);
    recorded.refused(status);
    context.log.warn({ route: route.name, status, err: message }, 'admission request refused');
    turn.answers.add({ reply, status, body: refusal(status, message), written });
  }

  function answer(request: AdmissionRequest, decision: Decision, reply: Reply, written: () => void): void {
    let encoded: EncodedAnswer;
    try {
      encoded = encodeAnswer(request, decision);
    } catch (err) {
      return refuse(err, reply, written);
    }
    const label = decisionLabel(decision, encoded.patched);
    recorded.answered(request.kind.kind, label);
    if (!decision.allowed) for (const v of decision.violations ?? []) recorded.violation(v.rule);
    turn.answers.add({ reply, status: 200, body: encoded.body, written });
    logLine(
      {
        uid: request.uid,
        kind: request.kind.kind,
        namespace: request.namespace,
        name: request.name,
        operation: request.operation,
        user: request.userInfo.username,
        route: route.name,
        decision: label,
        message: encoded.message,
      },
      decision.allowed ? 'admission' : 'admission denied',
    );
  }

  function judgeNow(body: Buffer, reply: Reply, written: () => void): void {
    let request: AdmissionRequest;
    let decision: Decision | Promise<Decision>;
    try {
      const parsed = parseAdmissionReview(parseJson(body));
      if (!parsed.ok) throw new BodyError(400, parsed.message);
      request = parsed.request;
      decision = decide(route.handler, request, context);
    } catch (err) {
      return refuse(err, reply, written);
    }
    if (!(decision instanceof Promise)) return answer(request, decision, reply, written);
    // decide() turns a rejection into an errored decision; what answer() throws past its own refusal is logged.
    decision
      .then((decided) => answer(request, decided, reply, written))
      .catch((err: unknown) => context.log.warn({ err: (err as Error).message }, 'admission answer failed'));
  }

  return {
    // Until the answer is on the wire: the duration and the in-flight gauge include the waits for the turn's end.
    start: () => recorded.start(),
    judge: (body, reply, written) => turn.gate.enter(() => judgeNow(body, reply, written)),
    refuse,
  };
}

/**
 * The webhook's request handling, served two ways: as a node:http request listener (the plain-HTTP metrics port,
 * and tests), and as HTTP/1.1 connections (`http1`, the HTTPS port: webhooks/http1.ts).
 */
export type App = RequestListener & { readonly http1: Http1Server };

/** The request listener of the webhook's HTTPS (and optional plain HTTP) servers. */
export function createApp(options: AppOptions): App {
  const metrics = createAdmissionMetrics(options.registry);
  const answers = new TurnBatch(writeAnswer, (err) =>
    options.context.log.warn({ err: err.message }, 'admission answer could not be written'),
  );
  const turn = {
    answers,
    gate: new TurnGate(
      () => answers.arm(),
      (err) => options.context.log.warn({ err: err.message }, 'admission request could not be judged'),
    ),
  };
  const admission = new Map(options.routes.map((route) => [route.path, admissionRoute(route, options, metrics, turn)]));
  const routeList = options.routes.map((r) => `POST ${r.path}`).join(', ');
  const metricsText = async (reply: Reply): Promise<void> => {
    try {
      reply(200, options.registry.contentType, await options.registry.metrics());
    } catch (err) {
      reply(500, TEXT_TYPE, `could not collect metrics: ${(err as Error).message}\n`);
    }
  };
  /** Every request but an admission POST: probes, metrics, and the 404 that lists the routes. */
  const other = (method: string, path: string, reply: Reply): void => {
    if (method === 'GET' || method === 'HEAD') {
      if (path === '/healthz') return reply(200, TEXT_TYPE, 'ok\n');
      if (path === '/readyz') {
        const ready = options.ready();
        return reply(ready === true ? 200 : 503, TEXT_TYPE, ready === true ? 'ready\n' : `not ready: ${ready}\n`);
      }
      if (path === '/metrics') return void metricsText(reply);
    }
    reply(404, TEXT_TYPE, `no route for ${method} ${path}; admission routes: ${routeList}\n`);
  };
  const http1 = createHttp1Server(
    (method, path, body, reply) => {
      const route = method === 'POST' ? admission.get(path) : undefined;
      if (!route) return other(method, path, reply);
      route.judge(body, reply, route.start());
    },
    { maxBodyBytes: options.maxBodyBytes },
  );
  const listener: RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = req.method ?? 'GET';
    const reply: Reply = (status, contentType, body) => {
      // A client that hung up meanwhile gets nothing.
      if (!res.destroyed) send(res, status, contentType, body);
    };
    const route = method === 'POST' ? admission.get(path) : undefined;
    if (!route) {
      req.resume();
      return other(method, path, reply);
    }
    const written = route.start();
    readBody(req, options.maxBodyBytes, (error, body) => {
      if (error) route.refuse(error, reply, written);
      else route.judge(body, reply, written);
    });
  };
  return Object.assign(listener, { http1 });
}
