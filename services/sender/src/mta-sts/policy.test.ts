import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MtaStsPolicyError, mxMatches, parsePolicy, parseStsRecord } from './policy.ts';

describe('MTA-STS TXT record', () => {
  it('reads the id of a v=STSv1 record', () => {
    assert.equal(parseStsRecord(['v=STSv1; id=20160831085700Z;']), '20160831085700Z');
    assert.equal(parseStsRecord(['v=STSv1;id=abc123']), 'abc123');
    assert.equal(parseStsRecord(['v=STSv1; id=abc; ext=1']), 'abc', 'extensions are ignored');
  });

  it('ignores records of other kinds', () => {
    assert.equal(parseStsRecord(['v=spf1 -all', 'v=STSv1; id=1']), '1');
    assert.equal(parseStsRecord(['v=spf1 -all']), undefined);
    assert.equal(parseStsRecord([]), undefined);
  });

  it('counts two STSv1 records, a missing or malformed id, or a wrong version as none', () => {
    assert.equal(parseStsRecord(['v=STSv1; id=1', 'v=STSv1; id=2']), undefined);
    assert.equal(parseStsRecord(['v=STSv1;']), undefined);
    assert.equal(parseStsRecord(['v=STSv1; id=not-alnum']), undefined);
    assert.equal(parseStsRecord([`v=STSv1; id=${'a'.repeat(33)}`]), undefined);
    assert.equal(parseStsRecord(['v=STSv2; id=1']), undefined);
    assert.equal(parseStsRecord(['id=1; v=STSv1']), undefined);
  });
});

describe('MTA-STS policy file', () => {
  it('parses a policy with CRLF or LF line ends', () => {
    const text =
      'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n';
    assert.deepEqual(parsePolicy(text), {
      mode: 'enforce',
      mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'],
      maxAge: 604800,
    });
    assert.equal(parsePolicy(text.replace(/\r\n/g, '\n')).mx.length, 3);
  });

  it('takes the first of a repeated field, ignores unknown ones, normalises patterns', () => {
    const policy = parsePolicy(
      'version: STSv1\nmode: testing\nmode: enforce\nfuture_field: yes\nmx: MX.Example.COM.\nmax_age: 86400\n',
    );
    assert.deepEqual(policy, { mode: 'testing', mx: ['mx.example.com'], maxAge: 86400 });
  });

  it('accepts mode none without mx patterns', () => {
    assert.deepEqual(parsePolicy('version: STSv1\nmode: none\nmax_age: 0\n'), {
      mode: 'none',
      mx: [],
      maxAge: 0,
    });
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['no version', 'mode: enforce\nmx: a.example\nmax_age: 1\n', /no version/],
    ['another version', 'version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n', /STSv2/],
    [
      'an unknown mode',
      'version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n',
      /mode "strict"/,
    ],
    ['no max_age', 'version: STSv1\nmode: enforce\nmx: a.example\n', /no max_age/],
    [
      'a max_age over a year',
      'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n',
      /max_age/,
    ],
    [
      'a negative max_age',
      'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n',
      /max_age/,
    ],
    ['enforce without mx', 'version: STSv1\nmode: enforce\nmax_age: 1\n', /without any mx/],
    [
      'a wildcard inside a pattern',
      'version: STSv1\nmode: enforce\nmx: mx.*.example\nmax_age: 1\n',
      /mx pattern/,
    ],
    ['a line without a colon', 'version: STSv1\nmode enforce\n', /malformed line/],
    ['an HTML page', '<html><body>Not here</body></html>\n', /malformed line/],
  ];
  for (const [what, text, message] of malformed) {
    it(`refuses a policy with ${what}`, () => {
      assert.throws(
        () => parsePolicy(text),
        (err: Error) => err instanceof MtaStsPolicyError && message.test(err.message),
      );
    });
  }
});

describe('MX pattern matching', () => {
  it('matches a name exactly, ignoring case and a trailing dot', () => {
    assert.equal(mxMatches('mail.example.com', ['mail.example.com']), true);
    assert.equal(mxMatches('MAIL.Example.com.', ['mail.example.com']), true);
    assert.equal(mxMatches('mail2.example.com', ['mail.example.com']), false);
  });

  it('lets a wildcard stand for exactly one left-most label', () => {
    const patterns = ['*.example.net'];
    assert.equal(mxMatches('mx1.example.net', patterns), true);
    assert.equal(mxMatches('example.net', patterns), false);
    assert.equal(mxMatches('a.b.example.net', patterns), false);
    assert.equal(mxMatches('mx1.example.net.evil.test', patterns), false);
  });

  it('tries every pattern, and never matches an empty name', () => {
    assert.equal(mxMatches('backup.example.org', ['mx.example.com', '*.example.org']), true);
    assert.equal(mxMatches('', ['*.example.org']), false);
    assert.equal(mxMatches('mx.example.org', []), false);
  });

  it('compares internationalised names in their ASCII form', () => {
    const { mx } = parsePolicy('version: STSv1\nmode: enforce\nmx: *.bücher.example\nmax_age: 1\n');
    assert.deepEqual(mx, ['*.xn--bcher-kva.example']);
    assert.equal(mxMatches('mx.bücher.example', mx), true);
    assert.equal(mxMatches('mx.xn--bcher-kva.example', mx), true);
  });
});
