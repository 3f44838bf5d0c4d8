// Would a verifying client accept this serving pair now? The checks a TLS client (the API server, Go's
// crypto/x509; OpenSSL alike) makes of the certificate it is shown, done before the pair is served: the key belongs
// to the certificate, the certificate and every certificate on its path to the CA bundle lie inside their
// validity windows, and that path exists (signatures checked). The host name is not checked here: the names are
// the issuer's business (certs/plan.ts re-issues a certificate that misses one). No I/O and no clock: the texts
// and `now` are passed in. Only node's own X509Certificate (OpenSSL): no X.509 library is loaded, so the webhook
// that imports this stays small.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { certificateNames } from './dn.ts';
import { splitPemBundle } from './validity.ts';

/** Why a pair was refused; the label of k8s_ee_cert_reload_rejected_total. */
export type PairRejectReason =
  'unreadable' | 'malformed' | 'key_mismatch' | 'not_yet_valid' | 'expired' | 'untrusted' | 'ca_not_valid';

export const PAIR_REJECT_REASONS: readonly PairRejectReason[] = [
  'unreadable',
  'malformed',
  'key_mismatch',
  'not_yet_valid',
  'expired',
  'untrusted',
  'ca_not_valid',
];

/** The file names (or Secret keys) the messages name. */
export interface PairNames {
  cert: string;
  key: string;
  ca?: string;
}

export interface PairTexts {
  certPem: string;
  keyPem: string;
  /** The CA bundle clients verify with (the injected caBundle); undefined or blank: the path is not checked. */
  caPem?: string | undefined;
}

export interface Rejection {
  reason: PairRejectReason;
  /** One line: which file, what is wrong, the dates that matter. */
  message: string;
  notBefore?: Date;
  notAfter?: Date;
}

interface PathCert {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** From the CA bundle (or an intermediate that leads to it), not the leaf. */
  issuer: boolean;
}

/** A pair whose structure is sound (key matches, path to the bundle exists); its dates are checked at `now`. */
export interface InspectedPair {
  subject: string;
  /** The leaf's own window. */
  leaf: { notBefore: Date; notAfter: Date };
  /** The window in which every certificate on the path is valid: the leaf's, narrowed by its issuers'. */
  window: { notBefore: Date; notAfter: Date };
  /** Leaf first, then the issuers up to and including the trust anchor (only the leaf without a CA bundle). */
  path: PathCert[];
  /** False when no CA bundle was given: the path was not checked. */
  trustChecked: boolean;
  /** sha256 of the leaf (DER), hex. */
  fingerprint: string;
}

export type Inspection = { ok: true; pair: InspectedPair } | ({ ok: false } & Rejection);

export type PairVerdict = { ok: true; pair: InspectedPair } | ({ ok: false } & Rejection);

const iso = (d: Date): string => d.toISOString();
const span = (c: { notBefore: Date; notAfter: Date }): string => `valid ${iso(c.notBefore)} to ${iso(c.notAfter)}`;

function reject(reason: PairRejectReason, message: string, dates?: { notBefore: Date; notAfter: Date }): Inspection {
  return { ok: false, reason, message, ...(dates ? { notBefore: dates.notBefore, notAfter: dates.notAfter } : {}) };
}

/** A parsed certificate with the fields the checks and the messages use. */
interface Cert {
  x509: X509Certificate;
  /** Printed as the messages have always printed them ("CN=a, O=b"), see dn.ts. */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
}

function parseAll(pem: string): Cert[] {
  return splitPemBundle(pem).map((block) => {
    const cert = new X509Certificate(block);
    return { x509: cert, ...certificateNames(cert.raw), notBefore: cert.validFromDate, notAfter: cert.validToDate };
  });
}

/**
 * The structural checks: parseable, key matches, a signed path from the leaf to a certificate of the bundle. With
 * `now`, the leaf's own dates are checked before the path, in the order a Go client (the API server) reports them:
 * an expired certificate from an unknown CA is "expired".
 */
export function inspectPair(texts: PairTexts, names: PairNames, now?: Date): Promise<Inspection> {
  // The checks are synchronous (OpenSSL); the promise keeps the interface (and turns a throw into a rejection).
  return new Promise((resolve) => resolve(inspect(texts, names, now)));
}

function inspect(texts: PairTexts, names: PairNames, now?: Date): Inspection {
  let chain: Cert[];
  try {
    chain = parseAll(texts.certPem);
  } catch (err) {
    return reject('malformed', `${names.cert} holds a certificate that is not valid X.509: ${(err as Error).message}`);
  }
  const leaf = chain[0];
  if (!leaf) return reject('malformed', `${names.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const leafDates = { notBefore: leaf.notBefore, notAfter: leaf.notAfter };
  let key;
  try {
    key = createPrivateKey(texts.keyPem);
  } catch (err) {
    return reject('malformed', `${names.key} is not a PEM private key: ${(err as Error).message}`, leafDates);
  }
  let matches: boolean;
  try {
    matches = leaf.x509.checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) {
    return reject(
      'key_mismatch',
      `${names.key} is not the private key of the certificate in ${names.cert} (${leaf.subject}, ${span(leafDates)})`,
      leafDates,
    );
  }
  if (now) {
    const problem = datesProblem({ path: [pathCert(leaf, false)] }, now, names);
    if (problem) return { ok: false, ...problem };
  }
  const path = trustPath(chain, texts.caPem, names);
  if ('reason' in path) return path;
  const window = {
    notBefore: new Date(Math.max(...path.certs.map((c) => c.notBefore.getTime()))),
    notAfter: new Date(Math.min(...path.certs.map((c) => c.notAfter.getTime()))),
  };
  return {
    ok: true,
    pair: {
      subject: leaf.subject,
      leaf: leafDates,
      window,
      path: path.certs,
      trustChecked: path.checked,
      fingerprint: leaf.x509.fingerprint256.replaceAll(':', '').toLowerCase(),
    },
  };
}

function pathCert(cert: Cert, issuer: boolean): PathCert {
  return { subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, issuer };
}

function trustPath(
  chain: Cert[],
  caPem: string | undefined,
  names: PairNames,
): { certs: PathCert[]; checked: boolean } | ({ ok: false } & Rejection) {
  const leaf = chain[0] as Cert;
  const leafOnly = { certs: [pathCert(leaf, false)], checked: false };
  if (caPem === undefined || caPem.trim() === '') return leafOnly;
  const caName = names.ca ?? 'the CA bundle';
  let anchors: Cert[];
  try {
    anchors = parseAll(caPem);
  } catch (err) {
    return {
      ok: false,
      reason: 'untrusted',
      message: `${caName} holds a certificate that is not valid X.509: ${(err as Error).message}`,
    };
  }
  if (anchors.length === 0)
    return {
      ok: false,
      reason: 'untrusted',
      message: `${caName} holds no PEM certificate, so no client can verify ${names.cert}`,
    };
  // Intermediates from the certificate file, then the bundle; only verified signatures are followed.
  const built = buildPath(leaf, [...chain.slice(1), ...anchors], anchors);
  if (built) return { certs: built.map((c, j) => pathCert(c, j > 0)), checked: true };
  return {
    ok: false,
    reason: 'untrusted',
    message: `${names.cert}: the certificate (${leaf.subject}, issued by ${leaf.issuer}, ${span(leaf)}) is not signed by any CA in ${caName}, so clients that trust ${caName} refuse it`,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}

/** The longest path a client builds (leaf and trust anchor included); beyond it, there is no path. */
const MAX_PATH = 10;
/** How many certificates the search may extend a path from, a bound for a pathological bundle. */
const MAX_STEPS = 100;

/** Does `parent` name `child`'s issuer (name, key identifiers, key usage) and verify its signature? */
function issued(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * A path from `leaf` up to a certificate of the bundle, leaf first, the anchor last (the leaf alone when it is in
 * the bundle), or undefined. Depth first, the candidates in their order (the certificate file's intermediates before
 * the bundle), stopping at the first certificate of the bundle; a self-signed certificate outside the bundle ends its
 * branch, no certificate appears twice on a path, and a path is at most MAX_PATH long.
 */
function buildPath(leaf: Cert, candidates: Cert[], anchors: Cert[]): Cert[] | undefined {
  const key = (c: Cert): string => c.x509.fingerprint256;
  const trusted = new Set(anchors.map(key));
  const issuers = new Map<string, Cert[]>();
  const issuersOf = (c: Cert): Cert[] => {
    let found = issuers.get(key(c));
    if (!found) {
      found = candidates.filter((p) => key(p) !== key(c) && issued(c.x509, p.x509));
      issuers.set(key(c), found);
    }
    return found;
  };
  let steps = 0;
  const extend = (path: Cert[]): Cert[] | undefined => {
    const top = path[path.length - 1] as Cert;
    if (trusted.has(key(top))) return path;
    if (path.length >= MAX_PATH || ++steps > MAX_STEPS || issued(top.x509, top.x509)) return undefined;
    for (const parent of issuersOf(top)) {
      if (path.some((c) => key(c) === key(parent))) continue;
      const found = extend([...path, parent]);
      if (found) return found;
    }
    return undefined;
  };
  return extend([leaf]);
}

/** The date check of an inspected pair at `now`: the first certificate on the path outside its window. */
export function datesProblem(pair: Pick<InspectedPair, 'path'>, now: Date, names: PairNames): Rejection | undefined {
  const t = now.getTime();
  for (const c of pair.path) {
    const dates = { notBefore: c.notBefore, notAfter: c.notAfter };
    const early = t < c.notBefore.getTime();
    const late = t > c.notAfter.getTime();
    if (!early && !late) continue;
    if (!c.issuer) {
      return early
        ? {
            reason: 'not_yet_valid',
            message: `${names.cert}: the certificate (${c.subject}) is not valid until ${iso(c.notBefore)} (${span(c)}; now ${iso(now)})`,
            ...dates,
          }
        : {
            reason: 'expired',
            message: `${names.cert}: the certificate (${c.subject}) expired at ${iso(c.notAfter)} (${span(c)}; now ${iso(now)})`,
            ...dates,
          };
    }
    return {
      reason: 'ca_not_valid',
      message: `${names.cert}: its issuer ${c.subject} in ${names.ca ?? 'the CA bundle'} ${early ? `is not valid until ${iso(c.notBefore)}` : `expired at ${iso(c.notAfter)}`} (${span(c)}; now ${iso(now)})`,
      ...dates,
    };
  }
  return undefined;
}

/** Every check: would a client that trusts `caPem` accept this pair at `now`? */
export async function checkServingPair(texts: PairTexts, names: PairNames, now: Date): Promise<PairVerdict> {
  const inspected = await inspectPair(texts, names, now);
  if (!inspected.ok) return inspected;
  const problem = datesProblem(inspected.pair, now, names);
  return problem ? { ok: false, ...problem } : inspected;
}
