import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLogger, infoLineWriter, LineBatch, unredacted, type Logger } from './log.ts';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines };
}

/** A logger the writer reproduces: the root logger redacts `*.token` and the like, so lines go through pino. */
const plainLogger = (stream: Writable, level = 'info'): Logger =>
  unredacted(createLogger({ destination: stream, level }));

const KEYS = ['uid', 'kind', 'namespace', 'name', 'user'] as const;
const VALUES: Record<(typeof KEYS)[number], string | undefined>[] = [
  { uid: 'u-1', kind: 'Deployment', namespace: 'shop-pr-42', name: 'web', user: 'dev@example.com' },
  { uid: 'u-2', kind: 'Namespace', namespace: undefined, name: 'shop-pr-7', user: undefined },
  // Everything JSON escapes: quotes, backslashes, control characters; non-ASCII, long strings.
  { uid: 'a"b\\c\n\t\u0001', kind: 'é💥', namespace: 'x'.repeat(300), name: '', user: 'system:serviceaccount:a:b' },
  // Values that are not strings after all (a request's fields come from its sender): written as pino writes them.
  { uid: 'u', kind: null, namespace: 7, name: ['a', { b: 'é"' }], user: () => 1 } as unknown as Record<
    (typeof KEYS)[number],
    string
  >,
];

/** What pino itself writes for the same call, with its clock frozen so both lines carry the same time. */
function pinoLine(make: (stream: Writable) => Logger, values: object, msg: string): string {
  const { stream, lines } = capture();
  make(stream).info(values, msg);
  return lines.join('');
}

test('unredacted(logger) writes the line logger writes when nothing in it is to redact; logger itself still redacts', () => {
  const { stream, lines } = capture();
  const root = createLogger({ name: 'k8s-ee-sweeper', destination: stream });
  const entry = {
    action: 'delete-namespace',
    name: 'shop-pr-7',
    dryRun: false,
    count: 3,
    details: { since: 't', releases: ['web'] },
  };
  root.info(entry, 'orphan "shop-pr-7" deleted');
  unredacted(root).info(entry, 'orphan "shop-pr-7" deleted');
  root.info({ details: { token: 'gh-secret' }, password: 'p' }, 'login');
  const [viaRoot, viaPlain, secret] = lines.map((line) => line.replace(/"time":\d+/, '"time":0'));
  assert.equal(viaPlain, viaRoot);
  assert.ok(viaRoot?.includes('"releases":["web"]'), viaRoot);
  assert.ok(secret !== undefined && !secret.includes('gh-secret') && !secret.includes('"p"'), secret);
  assert.match(secret ?? '', /"token":"\[redacted\]"/);
});

test('infoLineWriter writes the bytes logger.info writes, for every value JSON escapes and with undefined left out', async () => {
  const fixed = () => ',"time":1700000000000';
  const make = (stream: Writable): Logger =>
    createLogger({ name: 'k8s-ee-webhook', destination: stream }).child({ replica: 'a' }, { redact: [] });
  for (const values of VALUES) {
    const { stream, lines } = capture();
    const logger = make(stream);
    (logger as unknown as Record<symbol, unknown>)[(pino.symbols as unknown as Record<string, symbol>)['timeSym']!] =
      fixed;
    infoLineWriter(logger, KEYS)(values, 'admission "denied"');
    await new Promise((resolve) => setImmediate(resolve));
    const expected = pinoLine(
      (s) => {
        const l = make(s);
        (l as unknown as Record<symbol, unknown>)[(pino.symbols as unknown as Record<string, symbol>)['timeSym']!] =
          fixed;
        return l;
      },
      values,
      'admission "denied"',
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.join(''), expected);
    assert.deepEqual(Object.keys(JSON.parse(lines.join('')) as object).slice(0, 4), [
      'level',
      'time',
      'name',
      'replica',
    ]);
  }
});

test('infoLineWriter on a LineBatch writes into the batch the bytes logger.info writes there, in the order logged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-batch-'));
  const fd = openSync(join(dir, 'out.log'), 'w');
  try {
    const batch = new LineBatch(fd, 1 << 20, 60_000);
    const logger = createLogger({ name: 'k8s-ee-webhook', destination: batch }).child({ replica: 'é' }, { redact: [] });
    (logger as unknown as Record<symbol, unknown>)[(pino.symbols as unknown as Record<string, symbol>)['timeSym']!] =
      () => ',"time":1700000000000';
    const write = infoLineWriter(logger, KEYS);
    for (const values of VALUES) {
      write(values, 'admission "denied"');
      logger.info(values, 'admission "denied"');
    }
    write({ name: 'a\ud800b' }, 'admission');
    batch.flushSync();
    const lines = readFileSync(join(dir, 'out.log'), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, VALUES.length * 2 + 1);
    for (let i = 0; i < VALUES.length; i++)
      assert.equal(lines[2 * i], lines[2 * i + 1], `line ${i}: as pino writes it`);
    assert.equal((JSON.parse(lines.at(-1) ?? '') as { name: string }).name, 'a\ud800b', 'a lone surrogate, escaped');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('infoLineWriter escapes a lone surrogate (\\ud800) where pino writes it raw and it arrives as U+FFFD', async () => {
  const { stream, lines } = capture();
  infoLineWriter(plainLogger(stream), ['name'])({ name: 'a\ud800b' }, 'admission');
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(lines.join(''), /"name":"a\\ud800b"/);
  assert.equal((JSON.parse(lines.join('')) as { name: string }).name, 'a\ud800b');
});

test('infoLineWriter follows the logger level: nothing below info, and lines again once the level allows them', () => {
  const { stream, lines } = capture();
  const logger = plainLogger(stream, 'warn');
  const write = infoLineWriter(logger, ['uid']);
  write({ uid: 'one' }, 'admission');
  logger.level = 'debug';
  write({ uid: 'two' }, 'admission');
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      assert.equal(lines.length, 1);
      assert.equal((JSON.parse(lines[0] ?? '') as { uid: string }).uid, 'two');
      resolve();
    }),
  );
});

test('infoLineWriter hands a logger it cannot reproduce (redacted keys, a mixin, a message prefix) to logger.info', async () => {
  const loggers: [string, (stream: Writable) => Logger][] = [
    ['redaction of a key it writes', (s) => pino({ redact: ['uid'] }, s)],
    ['a mixin', (s) => pino({ mixin: () => ({ extra: 1 }) }, s)],
    ['a message prefix', (s) => pino({ msgPrefix: '[x] ' }, s)],
    ['a log formatter', (s) => pino({ formatters: { log: (o) => ({ wrapped: o }) } }, s)],
  ];
  for (const [what, make] of loggers) {
    const { stream, lines } = capture();
    infoLineWriter(make(stream), ['uid'])({ uid: 'secret' }, 'admission');
    await new Promise((resolve) => setImmediate(resolve));
    const expected = pinoLine(make, { uid: 'secret' }, 'admission');
    await new Promise((resolve) => setImmediate(resolve));
    const strip = (line: string): unknown => ({ ...(JSON.parse(line) as object), time: 0 });
    assert.deepEqual(strip(lines.join('')), strip(expected), what);
  }
});

test('infoLineWriter hands the lines of one turn to the stream in one write, in order, right after the turn', async () => {
  const { stream, lines } = capture();
  const write = infoLineWriter(plainLogger(stream), ['uid']);
  for (const uid of ['a', 'b', 'c']) write({ uid }, 'admission');
  assert.equal(lines.length, 0, 'nothing written during the turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lines.length, 1, 'one write for the turn');
  const uids = (lines[0] ?? '')
    .trimEnd()
    .split('\n')
    .map((line) => (JSON.parse(line) as { uid: string }).uid);
  assert.deepEqual(uids, ['a', 'b', 'c']);
});

test('infoLineWriter: lines still held when the process exits are written', () => {
  const script = `
    import { createLogger, infoLineWriter } from ${JSON.stringify(new URL('./log.ts', import.meta.url).href)};
    const write = infoLineWriter(createLogger({ async: true }).child({}, { redact: [] }), ['uid']);
    write({ uid: 'last' }, 'admission');
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal((JSON.parse(out.trim()) as { uid: string }).uid, 'last');
});

test('infoLineWriter on a batched file destination: in the order logged, around the lines pino holds back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-log-'));
  const file = join(dir, 'out.log');
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  try {
    // As the webhook's stdout: synchronous, and lines held until 4 KiB gather (createLogger async).
    const destination = pino.destination({ dest: file, sync: true, minLength: 4096 });
    const logger = createLogger({ destination }).child({}, { redact: [] });
    const write = infoLineWriter(logger, ['uid']);
    const expected: string[] = [];
    const batch = (tag: string, n: number): void => {
      for (let i = 0; i < n; i++) {
        const uid = `${tag}-${i}-${i % 2 ? 'é😀' : 'x'.repeat(300)}`;
        write({ uid }, 'admission');
        expected.push(uid);
      }
    };
    for (let round = 0; round < 3; round++) {
      batch(`big-${round}`, 20); // ~4 KiB with nothing held: written at the end of the turn
      await turn();
      logger.info({ uid: `pino-${round}` }, 'held'); // held back: the writer's next lines go after it
      expected.push(`pino-${round}`);
      batch(`after-${round}`, 20);
      await turn();
      batch(`small-${round}`, 2); // a small batch is held back too, and written with the next
      await turn();
    }
    destination.flushSync();
    const uids = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { uid: string }).uid);
    assert.deepEqual(uids, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LineBatch: lines gather until the batch size, then go out in one write, byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-batch-'));
  const file = join(dir, 'out.log');
  const fd = openSync(file, 'w');
  try {
    const batch = new LineBatch(fd, 1000, 60_000);
    const lines = Array.from(
      { length: 12 },
      (_, i) => `{"n":${i},"text":"${i % 3 ? 'é😀ü'.repeat(20) : 'x'.repeat(90)}"}\n`,
    );
    let sent = 0;
    // The batch size is in bytes (the lines with é😀ü hold twice as many bytes as characters).
    while (sent < lines.length && Buffer.byteLength(lines.slice(0, sent + 1).join('')) < 1000) {
      batch.write(lines[sent++] ?? '');
    }
    assert.equal(readFileSync(file, 'utf8'), '', 'under the batch size: held');
    batch.write(lines[sent++] ?? '');
    assert.equal(readFileSync(file, 'utf8'), lines.slice(0, sent).join(''), 'at the batch size: all of it, in order');
    for (const line of lines.slice(sent)) batch.write(line);
    batch.flushSync();
    assert.equal(readFileSync(file, 'utf8'), lines.join(''));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LineBatch: a small batch goes out once its wait is over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-ee-batch-'));
  const file = join(dir, 'out.log');
  const fd = openSync(file, 'w');
  try {
    const batch = new LineBatch(fd, 4096, 30);
    batch.write('{"a":1}\n');
    batch.write('{"b":2}\n');
    assert.equal(readFileSync(file, 'utf8'), '');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n{"b":2}\n');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createLogger({ async }): a line pino holds is written when the process exits', () => {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('./log.ts', import.meta.url).href)};
    createLogger({ async: true }).info({ step: 'last' }, 'bye');
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal((JSON.parse(out.trim()) as { step: string }).step, 'last');
});

test('createLogger({ async }) with stdout closed: logging stops, says so once on stderr, and the process goes on', async () => {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('./log.ts', import.meta.url).href)};
    const log = createLogger({ async: true });
    setTimeout(() => {
      for (let i = 0; i < 2000; i++) log.info({ i, pad: 'x'.repeat(100) }, 'line');
      process.stderr.write('still running\\n');
    }, 300);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the first write
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr.match(/logs can no longer be written to fd 1 \(EPIPE\); dropping them/g)?.length, 1, stderr);
  assert.match(stderr, /still running/);
});
