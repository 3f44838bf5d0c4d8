// The shape of every field k8s-ee's rules read, per kind, as JSON Schemas. The rules read untrusted JSON with
// total accessors, where a value of the wrong type reads as unset: that is right for a manifest the API server
// has decoded, and wrong for anything else, where "unset" would let an object through unjudged (a Pod whose
// `spec.containers` is a string has no containers to refuse). So before any rule runs, an object of a handled
// kind must have the shape its rules expect; otherwise it is refused with the path of the field that is wrong.
//
// The API server never sends such an object: it decodes every request into its Go types first (a field of the
// wrong type is a 400 there), drops null for omitempty fields and prunes it from custom resources. So these
// schemas may be strict: null is refused wherever a rule reads a value, and the objects the API server does send
// always pass. Only fields the rules read are described; everything else is left to the API server.
//
// The schemas are in policies/shape-schemas.ts; their validators are compiled ahead of time (ajv's standalone code,
// policies/generated/shape-validators.ts), as the configuration's are: ajv at run time (its modules, and its code
// generator, hot at start-up, which brought in V8's optimizing compilers) cost the webhook ~12 MiB of idle memory
// (88 -> 76 MiB), and the first review of each kind paid its compilation.
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import * as generated from './generated/shape-validators.ts';
import { describeType } from './objects.ts';
import { SHAPED_KINDS } from './shape-schemas.ts';
import { violation, type Violation } from './violation.ts';

export { SHAPED_KINDS };

const validators: ReadonlyMap<string, ValidateFunction> = new Map(
  Object.entries(generated as unknown as Record<string, ValidateFunction>).filter(([kind]) =>
    SHAPED_KINDS.includes(kind),
  ),
);

function validatorFor(kind: string): ValidateFunction | undefined {
  return validators.get(kind);
}

const MAP_FIELDS = new Set(['labels', 'annotations', 'data', 'binaryData', 'matchLabels', 'requests', 'limits']);

/** `/spec/containers/0/securityContext` -> `spec.containers[0].securityContext`; map keys as `labels["a/b"]`. */
export function fieldPath(segments: readonly string[]): string {
  let out = '';
  segments.forEach((segment, i) => {
    if (/^(0|[1-9][0-9]*)$/.test(segment)) out += `[${segment}]`;
    else if (i > 0 && MAP_FIELDS.has(segments[i - 1] ?? '')) out += `[${JSON.stringify(segment)}]`;
    else out += out === '' ? segment : `.${segment}`;
  });
  return out;
}

function segmentsOf(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_WORDS: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  'string,number': 'a quantity (a string such as "256Mi", or a number)',
};

/** `kubectl explain deployment.spec.template.spec.containers` for a field path. */
function explain(kind: string, segments: readonly string[]): string {
  const fields = segments.filter((s, i) => !/^[0-9]+$/.test(s) && !MAP_FIELDS.has(segments[i - 1] ?? ''));
  return `kubectl explain ${[kind.toLowerCase(), ...fields].join('.')}`;
}

function describeError(kind: string, error: ErrorObject, root: string): Violation | undefined {
  const segments = segmentsOf(error.instancePath);
  const at = (s: readonly string[]): string => [root, fieldPath(s)].filter(Boolean).join('.') || 'object';
  if (error.keyword === 'type') {
    const expected = TYPE_WORDS[String((error.params as { type: unknown }).type)] ?? 'another type';
    return violation(
      'shape',
      at(segments),
      `must be ${expected}, got ${describeType(error.data)}: k8s-ee cannot judge an object it cannot read`,
      `write it as the Kubernetes API defines it (${explain(kind, segments)})`,
    );
  }
  if (error.keyword === 'required') {
    const missing = [...segments, String((error.params as { missingProperty: unknown }).missingProperty)];
    return violation(
      'shape',
      at(missing),
      `is missing: k8s-ee cannot judge the ${kind} without it`,
      `add it as the Kubernetes API defines it (${explain(kind, missing)})`,
    );
  }
  return undefined;
}

/**
 * Every field of `object` (a `kind` the webhooks judge) whose shape the rules cannot read, as violations with
 * their paths (prefixed by `root`, e.g. `oldObject`, when given). [] for a readable object or an unknown kind.
 */
export function shapeViolations(kind: string, object: unknown, root = ''): Violation[] {
  const validate = validatorFor(kind);
  if (!validate) return [];
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    return [
      violation(
        'shape',
        root || 'object',
        `must be ${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind} object, got ${describeType(object)}: k8s-ee cannot judge what it cannot read`,
        `send the ${kind} as a JSON object (kubectl explain ${kind.toLowerCase()})`,
      ),
    ];
  }
  if (validate(object)) return [];
  const seen = new Set<string>();
  return (validate.errors ?? []).flatMap((error) => {
    const v = describeError(kind, error, root);
    if (!v || seen.has(v.path)) return [];
    seen.add(v.path);
    return [v];
  });
}
