// The AdmissionReview envelope: decoding a request, running a handler safely, and encoding the answer.
// Handlers never see HTTP or JSON Patch; this is the one place that does.
import type { AdmissionRequest, Decision, Handler, HandlerContext } from './types.ts';
import { formatViolations } from '../policies/violation.ts';
import { diff, type PatchOperation } from '../policies/json-patch.ts';
import { TextBytes } from '../lib/text-bytes.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type Parsed = { ok: true; request: AdmissionRequest } | { ok: false; message: string };

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requestProblem(request: Record<string, unknown>): string | undefined {
  if (typeof request['uid'] !== 'string' || request['uid'] === '') return 'request.uid must be a non-empty string';
  const kind = request['kind'];
  if (!isObject(kind) || typeof kind['kind'] !== 'string' || typeof kind['version'] !== 'string') {
    return 'request.kind must be an object with group, version and kind';
  }
  if (typeof request['operation'] !== 'string' || !OPERATIONS.has(request['operation'])) {
    return 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT';
  }
  if (request['userInfo'] !== undefined && !isObject(request['userInfo'])) return 'request.userInfo must be an object';
  return optionalFieldProblem(request);
}

/** Which namespace and object a request is about decides whether and how it is judged: never guessed. */
function optionalFieldProblem(request: Record<string, unknown>): string | undefined {
  const wrong = (key: string, type: string): boolean =>
    request[key] !== undefined && request[key] !== null && typeof request[key] !== type;
  const text = ['name', 'namespace', 'subResource'].find((key) => wrong(key, 'string'));
  if (text) return `request.${text} must be a string`;
  return wrong('dryRun', 'boolean') ? 'request.dryRun must be true or false' : undefined;
}

/** Checks the shape of a decoded body; says exactly what is wrong when it is not an AdmissionReview. */
export function parseAdmissionReview(body: unknown): Parsed {
  if (!isObject(body)) return { ok: false, message: 'body must be a JSON object (an AdmissionReview)' };
  if (body['kind'] !== 'AdmissionReview') {
    return { ok: false, message: `kind must be "AdmissionReview", got ${JSON.stringify(body['kind'] ?? null)}` };
  }
  if (body['apiVersion'] !== ADMISSION_API_VERSION) {
    return {
      ok: false,
      message: `apiVersion must be "${ADMISSION_API_VERSION}", got ${JSON.stringify(body['apiVersion'] ?? null)} (register the webhook with admissionReviewVersions: ["v1"])`,
    };
  }
  const request = body['request'];
  if (!isObject(request))
    return { ok: false, message: 'request is missing: an AdmissionReview sent to a webhook must carry a request' };
  const problem = requestProblem(request);
  if (problem) return { ok: false, message: problem };
  // The parsed body is ours: normalized in place rather than copied.
  if (!isObject(request['userInfo'])) request['userInfo'] = {};
  return { ok: true, request: request as unknown as AdmissionRequest };
}

function subjectOf(request: AdmissionRequest): string {
  const obj = isObject(request.object) ? request.object : isObject(request.oldObject) ? request.oldObject : {};
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const name =
    request.name ||
    (typeof meta['name'] === 'string' ? meta['name'] : '') ||
    (typeof meta['generateName'] === 'string' ? `${meta['generateName']}*` : '<unnamed>');
  const where = request.namespace ? ` in namespace ${request.namespace}` : '';
  return `${request.operation} ${request.kind.kind}/${name}${where}`;
}

/** The JSON Patch from the original object to the mutated one (empty when nothing changed). */
export function diffPatch(original: unknown, mutated: unknown): PatchOperation[] {
  return diff(isObject(original) ? original : {}, isObject(mutated) ? mutated : {});
}

/**
 * A decision as the fields of its answer, echoing the request's uid. The patch is kept as JSON text: base64 is what
 * the answer carries, and it is encoded where it is written (reviewBytes), or by toReview for an object.
 */
export interface AnswerFields {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  /** The JSON Patch's operations as JSON text. */
  patch?: string;
  warnings?: string[];
}

export function answerOf(request: AdmissionRequest, decision: Decision): AnswerFields {
  const answer: AnswerFields = { uid: request.uid, allowed: decision.allowed };
  if (decision.allowed) {
    if (decision.mutated !== undefined) {
      const ops = diffPatch(request.object, decision.mutated);
      if (ops.length > 0) answer.patch = JSON.stringify(ops);
    }
    if (decision.warnings?.length) answer.warnings = decision.warnings;
  } else {
    const message = decision.violations?.length
      ? formatViolations(subjectOf(request), decision.violations)
      : decision.message;
    answer.status = { code: decision.code, message, ...(decision.reason ? { reason: decision.reason } : {}) };
  }
  return answer;
}

/** Encodes a decision as the AdmissionReview response, echoing the request's uid. */
export function toReview(request: AdmissionRequest, decision: Decision): AdmissionReview {
  const { uid, allowed, status, patch, warnings } = answerOf(request, decision);
  const response: AdmissionResponse = { uid, allowed };
  if (status) response.status = status;
  if (patch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(patch).toString('base64');
  }
  if (warnings) response.warnings = warnings;
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

const REVIEW_START = `{"apiVersion":"${ADMISSION_API_VERSION}","kind":"AdmissionReview","response":{"uid":`;

/**
 * The AdmissionReview of an answer as the bytes of its JSON: exactly what JSON.stringify(toReview(...)) writes,
 * written piece by piece into the buffer that goes on the wire, the patch encoded as base64 in place (the webhook's
 * answers: lib/text-bytes.ts says what that saves).
 */
export function reviewBytes(answer: AnswerFields): TextBytes {
  const { uid, allowed, status, patch, warnings } = answer;
  const bytes = new TextBytes()
    .text(REVIEW_START)
    .json(uid)
    .text(allowed ? ',"allowed":true' : ',"allowed":false');
  if (status !== undefined) {
    bytes.text(`,"status":{"code":${JSON.stringify(status.code)},"message":`).json(status.message);
    if (status.reason !== undefined) bytes.text(',"reason":').json(status.reason);
    bytes.text('}');
  }
  if (patch !== undefined) bytes.text(',"patchType":"JSONPatch","patch":"').base64(patch).text('"');
  if (warnings !== undefined) bytes.text(`,"warnings":${JSON.stringify(warnings)}`);
  return bytes.text('}}');
}

/**
 * Runs a handler; an exception (thrown, or a rejected promise) becomes an errored (denied, code 500) decision instead
 * of a crash. A handler that decides synchronously is answered synchronously: no promise per review for the kinds
 * that wait for nothing (most of them, and all of them without a cluster).
 */
export function decide(
  handler: Handler,
  request: AdmissionRequest,
  context: HandlerContext,
): Decision | Promise<Decision> {
  const failed = (err: unknown): Decision => {
    context.log.error({ err, uid: request.uid }, 'admission handler failed');
    const detail = err instanceof Error ? err.message : String(err);
    return {
      allowed: false,
      code: 500,
      reason: 'InternalError',
      message: `k8s-ee could not evaluate ${subjectOf(request)}: ${detail}`,
    };
  };
  try {
    const decision = handler(request, context);
    return decision instanceof Promise ? decision.catch(failed) : decision;
  } catch (err) {
    return failed(err);
  }
}
