// The HTTPS admission server: express routes, each a chain of small steps around a pure handler.
import express, { type Express, type Request, type Response } from 'express';
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

function badRequest(res: Response, status: number, message: string): void {
  // An AdmissionReview-shaped answer, so a human with curl and the API server's logs both read the reason.
  res
    .status(status)
    .type('application/json')
    .send(
      JSON.stringify({
        apiVersion: ADMISSION_API_VERSION,
        kind: 'AdmissionReview',
        response: { uid: '', allowed: false, status: { code: status, message } },
      }),
    );
}

function admissionRoute(route: Route, options: AppOptions, metrics: AdmissionMetrics) {
  const { context, maxBodyBytes } = options;
  return async (req: Request, res: Response): Promise<void> => {
    const end = metrics.duration.startTimer({ route: route.name });
    metrics.inFlight.inc({ route: route.name });
    try {
      const parsed = parseAdmissionReview(parseJson(await readBody(req, maxBodyBytes)));
      if (!parsed.ok) throw new BodyError(400, parsed.message);
      const { request } = parsed;
      const decision = await decide(route.handler, request, context);
      const review = toReview(request, decision);
      const label = decisionLabel(decision, review.response.patch !== undefined);
      metrics.requests.inc({ route: route.name, kind: request.kind.kind, decision: label });
      if (!decision.allowed) for (const v of decision.violations ?? []) metrics.violations.inc({ rule: v.rule });
      const log = {
        uid: request.uid,
        kind: request.kind.kind,
        namespace: request.namespace,
        name: request.name,
        operation: request.operation,
        user: request.userInfo.username,
        route: route.name,
        decision: label,
      };
      if (decision.allowed) context.log.info(log, 'admission');
      else context.log.info({ ...log, message: review.response.status?.message }, 'admission denied');
      res.status(200).type('application/json').send(JSON.stringify(review));
    } catch (err) {
      const status = err instanceof BodyError ? err.status : 500;
      metrics.rejected.inc({ route: route.name, status: String(status) });
      context.log.warn({ route: route.name, status, err: (err as Error).message }, 'admission request refused');
      badRequest(res, status, (err as Error).message);
    } finally {
      metrics.inFlight.dec({ route: route.name });
      end();
    }
  };
}

export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const metrics = createAdmissionMetrics(options.registry);
  for (const route of options.routes) app.post(route.path, admissionRoute(route, options, metrics));
  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok\n'));
  app.get('/readyz', (_req, res) => {
    const ready = options.ready();
    res
      .status(ready === true ? 200 : 503)
      .type('text/plain')
      .send(ready === true ? 'ready\n' : `not ready: ${ready}\n`);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  app.use((req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send(
        `no route for ${req.method} ${req.path}; admission routes: ${options.routes.map((r) => `POST ${r.path}`).join(', ')}\n`,
      );
  });
  return app;
}
