import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createBounceClassifier } from '../policy/bounce-classifier.ts';
import { compilePool } from '../pool/compile.ts';
import { attributeFeedback, type FeedbackVerdict } from './attribute.ts';
import { parseFeedback } from './report.ts';
import { returnPathFor } from './return-path.ts';
import {
  deriveReturnPathKey,
  parseReturnPath,
  returnPathAddress,
  verifyReturnPath,
} from './token.ts';

const POOL = 'mail_news';
const KEY = deriveReturnPathKey('correct horse battery staple', POOL);
const ID = 'Xk3Lq9PzRt0aB1cD2eF3gH';
const RCPT = 'Joe.Recipient@example.net';
const BOUNCES = 'bounces.example.com';
const RETURN_PATH = returnPathAddress({
  key: KEY,
  pool: POOL,
  id: ID,
  rcpt: RCPT,
  bounceDomain: BOUNCES,
});
const classify = createBounceClassifier();

function fixture(name: string, returnPath = RETURN_PATH, rcpt = RCPT): Buffer {
  const text = readFileSync(
    new URL(`../../../../test/fixtures/feedback/${name}`, import.meta.url),
    'utf8',
  );
  return Buffer.from(
    text
      .replaceAll('{{RETURN_PATH}}', returnPath)
      .replaceAll('{{RCPT}}', rcpt)
      .replaceAll('{{FROM}}', 'news@example.com'),
  );
}

async function verdict(name: string, sentTo: string, key = KEY): Promise<FeedbackVerdict> {
  const report = await parseFeedback(fixture(name));
  return attributeFeedback({ report, sentTo, key, pool: POOL, classify });
}

describe('the return path token', () => {
  it('names the message, fits a local part and verifies for its recipient only', () => {
    const token = parseReturnPath(RETURN_PATH);
    assert.ok(token);
    assert.equal(token.id, ID);
    assert.ok(RETURN_PATH.endsWith(`@${BOUNCES}`));
    assert.ok(RETURN_PATH.split('@')[0]!.length <= 64);
    assert.equal(verifyReturnPath(KEY, POOL, token, RCPT), true);
    assert.equal(verifyReturnPath(KEY, POOL, token, 'joe.recipient@EXAMPLE.NET'), true);
    assert.equal(verifyReturnPath(KEY, POOL, token, 'someone.else@example.net'), false);
    assert.equal(verifyReturnPath(KEY, 'mail_other', token, RCPT), false);
  });

  it('still verifies when a server lower-cased the local part', () => {
    const token = parseReturnPath(RETURN_PATH.toLowerCase());
    assert.ok(token);
    assert.equal(verifyReturnPath(KEY, POOL, token, RCPT), true);
  });

  it('refuses a token from another key, a changed id and a changed MAC', () => {
    const token = parseReturnPath(RETURN_PATH);
    assert.ok(token);
    const otherKey = deriveReturnPathKey('another secret', POOL);
    assert.equal(verifyReturnPath(otherKey, POOL, token, RCPT), false);
    assert.equal(verifyReturnPath(KEY, POOL, { ...token, id: `${ID.slice(0, -1)}x` }, RCPT), false);
    const flipped = `${token.mac.slice(0, -1)}${token.mac.endsWith('a') ? 'b' : 'a'}`;
    assert.equal(verifyReturnPath(KEY, POOL, { ...token, mac: flipped }, RCPT), false);
  });

  it('derives a different key per pool from one secret', () => {
    assert.notDeepEqual(deriveReturnPathKey('s', 'a_b'), deriveReturnPathKey('s', 'a_c'));
  });

  it('reads only addresses of the form the relay writes', () => {
    assert.equal(parseReturnPath('news@example.com'), undefined);
    assert.equal(parseReturnPath('b+@bounces.example.com'), undefined);
    assert.equal(parseReturnPath('b+abc.tooshort@bounces.example.com'), undefined);
    assert.equal(parseReturnPath(''), undefined);
  });
});

describe('delivery reports', () => {
  for (const [name, status] of [
    ['rfc3464-failed.eml', '5.1.1'],
    ['gmail-address-not-found.eml', '5.1.1'],
    ['outlook-ndr.eml', '5.5.0'],
  ] as const) {
    it(`${name}: a late hard bounce of the recipient, suppressed`, async () => {
      const v = await verdict(name, RETURN_PATH);
      assert.equal(v.kind, 'bounce');
      if (v.kind !== 'bounce') return;
      assert.equal(v.id, ID);
      assert.equal(v.rcpt.toLowerCase(), RCPT.toLowerCase());
      assert.equal(v.reply.enhanced, status);
      assert.equal(v.reply.code, 550);
      assert.match(v.reply.text, new RegExp(`^${status.replaceAll('.', '\\.')}`));
      assert.equal(v.category, 'hard');
      assert.equal(v.suppress, true);
    });
  }

  it('a delayed report is a notice, not a bounce', async () => {
    const v = await verdict('rfc3464-delayed.eml', RETURN_PATH);
    assert.deepEqual(v, { kind: 'notice', id: ID, rcpt: RCPT, what: 'delayed' });
  });

  for (const name of ['exim-text-bounce.eml', 'qmail-text-bounce.eml']) {
    it(`${name}: a bounce without report part is read from its text`, async () => {
      const report = await parseFeedback(fixture(name));
      assert.equal(report.format, 'text-bounce');
      const v = attributeFeedback({ report, sentTo: RETURN_PATH, key: KEY, pool: POOL, classify });
      assert.equal(v.kind, 'bounce');
      if (v.kind !== 'bounce') return;
      assert.equal(v.rcpt.toLowerCase(), RCPT.toLowerCase());
      assert.equal(v.reply.code, 550);
      assert.equal(v.reply.enhanced, '5.1.1');
      assert.equal(v.suppress, true);
    });
  }

  it('a bounce sent to a forged token changes nothing', async () => {
    const forged = returnPathAddress({
      key: deriveReturnPathKey('guessed secret', POOL),
      pool: POOL,
      id: ID,
      rcpt: RCPT,
      bounceDomain: BOUNCES,
    });
    const report = await parseFeedback(fixture('rfc3464-failed.eml', forged));
    const v = attributeFeedback({ report, sentTo: forged, key: KEY, pool: POOL, classify });
    assert.deepEqual(v, { kind: 'forged' });
  });

  it("a genuine token with another recipient's address in the report is forged", async () => {
    const report = await parseFeedback(
      fixture('rfc3464-failed.eml', RETURN_PATH, 'ceo@example.net'),
    );
    const v = attributeFeedback({ report, sentTo: RETURN_PATH, key: KEY, pool: POOL, classify });
    assert.deepEqual(v, { kind: 'forged' });
  });

  it('an automatic reply that is not a bounce is other', async () => {
    assert.deepEqual(await verdict('out-of-office.eml', RETURN_PATH), { kind: 'other' });
  });
});

describe('complaint reports (ARF)', () => {
  it('the RFC 5965 example: a complaint tied by Original-Mail-From', async () => {
    const v = await verdict('arf-rfc5965.eml', `fbl@${BOUNCES}`);
    assert.deepEqual(v, {
      kind: 'complaint',
      id: ID,
      rcpt: RCPT,
      feedbackType: 'abuse',
      sourceIp: '192.0.2.2',
      senderDomain: 'example.net',
    });
  });

  it('a Microsoft JMRP-style report without Original-Rcpt-To: the recipient from the message', async () => {
    const v = await verdict('jmrp-complaint.eml', `fbl@${BOUNCES}`);
    assert.equal(v.kind, 'complaint');
    if (v.kind !== 'complaint') return;
    assert.equal(v.rcpt, RCPT);
    assert.equal(v.senderDomain, 'example.com');
    assert.equal(v.sourceIp, '192.0.2.2');
  });

  it('a redacted report without a token cannot be attributed', async () => {
    assert.deepEqual(await verdict('yahoo-cfl-redacted.eml', `fbl@${BOUNCES}`), {
      kind: 'unattributed',
    });
  });

  it('a complaint with a forged token is refused', async () => {
    const v = await verdict('arf-rfc5965.eml', `fbl@${BOUNCES}`, deriveReturnPathKey('x', POOL));
    assert.deepEqual(v, { kind: 'forged' });
  });
});

describe('which deliveries take the return path', () => {
  const pool = compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'news', namespace: 'mail' },
      spec: {
        ips: [{ address: '192.0.2.1', hostname: 'mta.example.com' }],
        feedback: { bounceDomain: BOUNCES, signingKeyFile: 'k', senderDomains: ['example.com'] },
      },
    },
    { assignment: {}, feedbackSecret: 'secret' },
  );
  const one = { id: ID, from: 'news@example.com', rcpts: [RCPT] };

  it('one recipient of a chosen sender domain, signed for that recipient', () => {
    const address = returnPathFor(pool, one);
    assert.ok(address?.endsWith(`@${BOUNCES}`));
    const token = parseReturnPath(address ?? '');
    assert.ok(token);
    const key = Buffer.from(pool.feedback?.signingKey ?? '', 'base64');
    assert.equal(verifyReturnPath(key, pool.key, token, RCPT), true);
  });

  it('not several recipients, other domains, the null sender, or NOTIFY=SUCCESS/DELAY', () => {
    assert.equal(returnPathFor(pool, { ...one, rcpts: [RCPT, 'b@example.net'] }), undefined);
    assert.equal(returnPathFor(pool, { ...one, from: 'news@example.org' }), undefined);
    assert.equal(returnPathFor(pool, { ...one, from: '' }), undefined);
    const success = { rcptDsn: [{ rcpt: RCPT, notify: ['SUCCESS' as const] }] };
    assert.equal(returnPathFor(pool, { ...one, ...success }), undefined);
    const failure = { rcptDsn: [{ rcpt: RCPT, notify: ['FAILURE' as const] }] };
    assert.ok(returnPathFor(pool, { ...one, ...failure }));
  });
});
