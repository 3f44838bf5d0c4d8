// The AdmissionReview envelope: decoding a request, running a handler safely, and encoding the answer.
// Handlers never see HTTP or JSON Patch; this is the one place that does.
import type { AdmissionRequest, Decision, Handler, HandlerContext } from './types.ts';
import { formatViolations } from '../policies/violation.ts';
import { diff, walkDiff, type PatchOperation, type PatchSink } from '../policies/json-patch.ts';
import { isLeftOut, JsonBytes } from '../lib/json-bytes.ts';

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
  return diff(objectOr(original), objectOr(mutated));
}

/** The object, or {} for a side that is absent or not an object (a DELETE's object, a decision that built none). */
function objectOr(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

/** A denial's status: every violation listed under one heading, or the decision's own message. */
function statusOf(
  request: AdmissionRequest,
  decision: Decision & { allowed: false },
): NonNullable<AdmissionResponse['status']> {
  const message = decision.violations?.length
    ? formatViolations(subjectOf(request), decision.violations)
    : decision.message;
  return { code: decision.code, message, ...(decision.reason ? { reason: decision.reason } : {}) };
}

/** Encodes a decision as the AdmissionReview response, echoing the request's uid. */
export function toReview(request: AdmissionRequest, decision: Decision): AdmissionReview {
  const response: AdmissionResponse = { uid: request.uid, allowed: decision.allowed };
  if (decision.allowed) {
    if (decision.mutated !== undefined) {
      const ops = diffPatch(request.object, decision.mutated);
      if (ops.length > 0) {
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(JSON.stringify(ops)).toString('base64');
      }
    }
    if (decision.warnings?.length) response.warnings = decision.warnings;
  } else response.status = statusOf(request, decision);
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

/** An answer as the webhook sends it: the review's JSON bytes, and what its log line and metrics say of it. */
export interface EncodedAnswer {
  body: Buffer;
  /** It carries a patch. */
  patched: boolean;
  /** A denial's message. */
  message: string | undefined;
}

const REVIEW_START = `{"apiVersion":"${ADMISSION_API_VERSION}","kind":"AdmissionReview","response":{"uid":`;
const PATCH_START = ',"patchType":"JSONPatch","patch":"';

/** The one writer of the webhook's answers (one at a time: encodeAnswer runs to its end without waiting). */
const writer = new JsonBytes();
let ops = 0;
/** Writes each operation of a patch as JSON.stringify writes a PatchOperation, the value `after`'s own. */
const writeOperation: PatchSink = (op, path, value) => {
  writer.text(ops++ === 0 ? '{"op":"' : ',{"op":"');
  writer.text(op).text('","path":').pointer(path);
  if (op !== 'remove' && !isLeftOut(value)) writer.text(',"value":').value(value);
  writer.text('}');
};

/**
 * The AdmissionReview of a decision as the bytes of its JSON: exactly what JSON.stringify(toReview(...)) writes
 * (test), with nothing built on the way (lib/json-bytes.ts says why): the patch's operations go from the diff's walk
 * straight into the bytes, which then become their base64 in place.
 */
export function encodeAnswer(request: AdmissionRequest, decision: Decision): EncodedAnswer {
  writer
    .start()
    .text(REVIEW_START)
    .string(request.uid)
    .text(decision.allowed ? ',"allowed":true' : ',"allowed":false');
  let patched = false;
  let message: string | undefined;
  if (decision.allowed) {
    if (decision.mutated !== undefined) {
      const before = writer.length;
      writer.text(PATCH_START);
      const start = writer.length;
      ops = 0;
      writer.text('[');
      walkDiff(objectOr(request.object), objectOr(decision.mutated), writeOperation);
      patched = ops > 0;
      if (patched) writer.text(']').base64Since(start).text('"');
      else writer.truncate(before);
    }
    if (decision.warnings?.length) writer.text(',"warnings":').value(decision.warnings);
  } else {
    const status = statusOf(request, decision);
    message = status.message;
    writer.text(',"status":').value(status);
  }
  return { body: writer.text('}}').finish(), patched, message };
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
