import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLineEndGuard, type LineEndPolicy, type LineEndViolation } from './line-ends.ts';

function run(
  policy: LineEndPolicy,
  chunks: string[],
): { out: string; violation: LineEndViolation | undefined } {
  const guard = createLineEndGuard(policy);
  const parts = chunks.map((c) => guard.push(Buffer.from(c, 'latin1')));
  parts.push(guard.end());
  return { out: Buffer.concat(parts).toString('latin1'), violation: guard.violation };
}

const SMUGGLING = [
  'a\r\n\n.\nMAIL FROM:<x@y.test>\r\n',
  'a\r\n\r.\rMAIL FROM:<x@y.test>\r\n',
  'a\r\n.\nMAIL FROM:<x@y.test>\r\n',
  'a\n.\r\nMAIL FROM:<x@y.test>\r\n',
  'a\r.\r\nMAIL FROM:<x@y.test>\r\n',
  'a\r\n.\rMAIL FROM:<x@y.test>\r\n',
  '.\nMAIL FROM:<x@y.test>\r\n',
  'a\r\n.\r',
  'a\n\u0000.\nMAIL FROM:<x@y.test>\r\n',
  'a\r\n\u0000\u0000.\r\nMAIL FROM:<x@y.test>\r\n',
];

test('clean CRLF data passes through untouched in both modes', () => {
  const data = 'Subject: hi\r\n\r\n.leading dot kept\r\n..\r\n\u0000.x\r\n\u0000\r\nend\r\n';
  for (const policy of ['reject', 'normalize'] as const) {
    assert.deepEqual(run(policy, [data]), { out: data, violation: undefined });
  }
});

test('every non-CRLF end-of-data variant is smuggling, in both modes', () => {
  for (const policy of ['reject', 'normalize'] as const) {
    for (const data of SMUGGLING) {
      assert.equal(run(policy, [data]).violation, 'smuggling', `${policy} ${JSON.stringify(data)}`);
    }
  }
});

test('reject mode refuses any bare CR or LF and never rewrites', () => {
  for (const data of ['a\nb\r\n', 'a\rb\r\n', 'a\r\r\n', 'a\r\n\n']) {
    const result = run('reject', [data]);
    assert.equal(result.violation, 'bareLineEnd', JSON.stringify(data));
    assert.equal(result.out, data);
  }
});

test('normalize mode turns bare line ends into CRLF', () => {
  assert.deepEqual(run('normalize', ['Subject: x\n\nline one\nline two\rthree\r\n']), {
    out: 'Subject: x\r\n\r\nline one\r\nline two\r\nthree\r\n',
    violation: 'bareLineEnd',
  });
  assert.deepEqual(run('normalize', ['a\r']), { out: 'a\r\n', violation: 'bareLineEnd' });
});

test('chunk boundaries never change the verdict or the output', () => {
  // A small seeded generator over the bytes that matter.
  let seed = 0x5eed;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const alphabet = ['\r', '\n', '.', 'a', '\u0000', '\r\n', '\r\n.\r\n'];
  for (let round = 0; round < 500; round++) {
    let data = '';
    const length = 1 + Math.floor(random() * 20);
    for (let i = 0; i < length; i++) data += alphabet[Math.floor(random() * alphabet.length)];
    for (const policy of ['reject', 'normalize'] as const) {
      const whole = run(policy, [data]);
      const cuts: string[] = [];
      let at = 0;
      while (at < data.length) {
        const size = 1 + Math.floor(random() * 3);
        cuts.push(data.slice(at, at + size));
        at += size;
      }
      assert.deepEqual(run(policy, cuts), whole, `${policy} ${JSON.stringify(cuts)}`);
    }
  }
});
