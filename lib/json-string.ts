// A string as JSON text (what JSON.stringify(text) writes), remembering the last long one. A denial's message is
// written twice per admission, in the answer and in the admission log line: ~1.4 KB of text with quotes and newlines
// to escape, ~5 µs each time on the bench machine (a third of what the rest of a denial's policy costs, issue 10's
// notes). Short strings (names, uids, labels: nine of them on every admission's log line) are quoted directly when
// nothing in them needs escaping, which a scan of their characters tells for less than a call into JSON.stringify
// costs (~0.1 µs each on the bench machine); the others go to JSON.stringify and leave the remembered one alone.

/** Shorter strings are not remembered: escaping them costs less than comparing. */
const LONG = 256;

let lastText: string | undefined;
let lastJson = '';

/** True when JSON writes `text` as it is between quotes: printable ASCII without `"` or `\`. */
function plain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** `JSON.stringify(text)`; the last long string's text is reused when the same string comes again. */
export function jsonString(text: string): string {
  if (text.length < LONG) return plain(text) ? `"${text}"` : JSON.stringify(text);
  if (text !== lastText) {
    lastJson = JSON.stringify(text);
    lastText = text;
  }
  return lastJson;
}
