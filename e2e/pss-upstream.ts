// Reading the API server's PodSecurity denials: `pods "x" is forbidden: violates PodSecurity "restricted:latest":
// reason (detail), reason (detail), ...`, and relating their reasons to our rule ids (UPSTREAM_REASONS).
import { UPSTREAM_REASONS } from '../policies/pss.ts';

const KNOWN_REASONS = Object.keys(UPSTREAM_REASONS).sort((a, b) => b.length - a.length); // longest first

/** Index just past the parenthesised detail that opens at `start` (quotes respected), or the text's end. */
function skipDetail(text: string, start: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i + 1;
  }
  return text.length;
}

/** The forbidden reasons of a PodSecurity denial message, in order; [] when it is not one. */
export function parseUpstreamDenial(message: string): string[] {
  const marker = /violates PodSecurity "[^"]*": /.exec(message);
  if (!marker) return [];
  const text = message.slice(marker.index + marker[0].length);
  const reasons: string[] = [];
  let at = 0;
  while (at < text.length) {
    const known = KNOWN_REASONS.find((r) => text.startsWith(r, at) && /^( \(|, |$)/.test(text.slice(at + r.length)));
    const end = known ? at + known.length : nextBoundary(text, at);
    reasons.push(known ?? text.slice(at, end));
    at = text.startsWith(' (', end) ? skipDetail(text, end + 1) : end;
    if (!text.startsWith(', ', at)) break;
    at += 2;
  }
  return reasons;
}

function nextBoundary(text: string, from: number): number {
  const candidates = [text.indexOf(' (', from), text.indexOf(', ', from)].filter((i) => i >= 0);
  return candidates.length > 0 ? Math.min(...candidates) : text.length;
}

/**
 * Whether upstream's reasons and our rule ids say the same thing: each reason maps to at least one of our
 * rules, and each of our rules is covered by some reason. Returns a description of the gap, or undefined.
 */
export function upstreamReasonsCoverRules(reasons: readonly string[], rules: readonly string[]): string | undefined {
  const unknown = reasons.filter((r) => !UPSTREAM_REASONS[r]);
  if (unknown.length > 0) return `upstream reasons we have no mapping for: ${unknown.join('; ')}`;
  const unmatched = reasons.filter((r) => !(UPSTREAM_REASONS[r] ?? []).some((rule) => rules.includes(rule)));
  const covered = new Set(reasons.flatMap((r) => UPSTREAM_REASONS[r] ?? []));
  const extra = rules.filter((rule) => !covered.has(rule));
  const gaps = [
    ...(unmatched.length > 0 ? [`upstream reports ${unmatched.join('; ')} and we report no matching rule`] : []),
    ...(extra.length > 0 ? [`we report ${extra.join(', ')} and upstream gives no such reason`] : []),
  ];
  return gaps.length > 0 ? gaps.join('; ') : undefined;
}
