// A string as JSON text (what JSON.stringify(text) writes), remembering the last long one. A denial's message is
// written twice per admission, in the answer and in the admission log line: ~1.4 KB of text with quotes and newlines
// to escape, ~5 µs each time on the bench machine (a third of what the rest of a denial's policy costs, issue 10's
// notes). Short strings (names, uids, labels) go straight to JSON.stringify and leave the remembered one alone.

/** Shorter strings are not remembered: escaping them costs less than comparing. */
const LONG = 256;

let lastText: string | undefined;
let lastJson = '';

/** `JSON.stringify(text)`; the last long string's text is reused when the same string comes again. */
export function jsonString(text: string): string {
  if (text.length < LONG) return JSON.stringify(text);
  if (text !== lastText) {
    lastJson = JSON.stringify(text);
    lastText = text;
  }
  return lastJson;
}
