import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { DkimKeyError } from './errors.ts';
import { dkimVerify, type TxtResolver } from './mailauth.ts';
import { createDkimSigner } from './signer.ts';

interface TestKey {
  pem: string;
  /** The p= value a domain publishes for the key. */
  record: string;
}

function rsaKey(bits = 2048): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { pem: pemOf(privateKey), record: `v=DKIM1; k=rsa; p=${p}` };
}

function ed25519Key(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // RFC 8463 publishes the bare 32-byte key, the tail of its SPKI encoding.
  const p = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
  return { pem: pemOf(privateKey), record: `v=DKIM1; k=ed25519; p=${p}` };
}

function pemOf(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A resolver serving DKIM key records, standing in for DNS. */
function keyResolver(records: Record<string, string>): TxtResolver {
  return async (name, type) => {
    const record = records[name.toLowerCase()];
    if (type === 'TXT' && record !== undefined) return [[record]];
    throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
  };
}

const MESSAGE = Buffer.from(
  [
    'From: Shop <news@shop.example>',
    'To: customer@example.net',
    'Subject: Your order',
    'Date: Mon, 30 Nov 2026 09:00:00 +0000',
    'Message-ID: <order-1@shop.example>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'List-Unsubscribe: <https://shop.example/u/1>',
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    'X-Not-Signed: whatever',
    '',
    'Thank you for your order.',
    '',
  ].join('\r\n'),
);

const NOW = Date.parse('2026-11-30T09:00:00Z');
const clock = { now: () => NOW };

async function verdicts(message: Buffer, records: Record<string, string>): Promise<string[]> {
  const { results } = await dkimVerify(message, {
    resolver: keyResolver(records),
    curTime: new Date(NOW + 60_000),
  });
  return results.map((r) => {
    const verdict = `${r.signingDomain}/${r.selector}:${r.status.result}`;
    return r.status.comment ? `${verdict} (${r.status.comment})` : verdict;
  });
}

function signatureFields(signed: Buffer, original: Buffer): string {
  const prefix = signed.subarray(0, signed.length - original.length);
  assert.ok(signed.subarray(prefix.length).equals(original), 'the message follows unchanged');
  return prefix.toString();
}

describe('DKIM signer', () => {
  let rsa: TestKey;
  let ed: TestKey;

  before(() => {
    rsa = rsaKey();
    ed = ed25519Key();
  });

  it('signs with RSA, relaxed/relaxed, and the signature verifies', async () => {
    const signer = createDkimSigner(
      [{ domain: 'shop.example', selector: 'rsa1', privateKey: rsa.pem }],
      { clock },
    );
    const signed = await signer.sign(MESSAGE);
    const fields = signatureFields(signed, MESSAGE);
    assert.match(
      fields,
      /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=shop\.example;/,
    );
    assert.match(fields, new RegExp(`t=${NOW / 1000};`));
    const h = /h=([^;]+);/.exec(fields.replace(/\r\n\s+/g, ' '))?.[1]?.toLowerCase() ?? '';
    for (const name of [
      'from',
      'to',
      'subject',
      'date',
      'message-id',
      'list-unsubscribe',
      'list-unsubscribe-post',
    ]) {
      assert.ok(h.split(/:\s*/).includes(name), `h= covers ${name}: ${h}`);
    }
    assert.ok(!h.includes('x-not-signed'));
    assert.deepEqual(await verdicts(signed, { 'rsa1._domainkey.shop.example': rsa.record }), [
      'shop.example/rsa1:pass',
    ]);
  });

  it('signs with Ed25519, and the signature verifies', async () => {
    const signer = createDkimSigner(
      [{ domain: 'shop.example', selector: 'ed1', privateKey: ed.pem }],
      { clock },
    );
    const signed = await signer.sign(MESSAGE);
    assert.match(signatureFields(signed, MESSAGE), /a=ed25519-sha256/);
    assert.deepEqual(await verdicts(signed, { 'ed1._domainkey.shop.example': ed.record }), [
      'shop.example/ed1:pass',
    ]);
  });

  it('signs once per key of the domain, so RSA and Ed25519 both sign', async () => {
    const signer = createDkimSigner(
      [
        { domain: 'shop.example', selector: 'rsa1', privateKey: rsa.pem },
        { domain: 'shop.example', selector: 'ed1', privateKey: Buffer.from(ed.pem) },
        { domain: 'other.example', selector: 'rsa1', privateKey: rsa.pem },
      ],
      { clock },
    );
    const signed = await signer.sign(MESSAGE);
    const records = {
      'rsa1._domainkey.shop.example': rsa.record,
      'ed1._domainkey.shop.example': ed.record,
    };
    assert.deepEqual((await verdicts(signed, records)).sort(), [
      'shop.example/ed1:pass',
      'shop.example/rsa1:pass',
    ]);
  });

  it('fails verification once the body or a signed header is changed', async () => {
    const signer = createDkimSigner(
      [{ domain: 'shop.example', selector: 'rsa1', privateKey: rsa.pem }],
      { clock },
    );
    const signed = (await signer.sign(MESSAGE)).toString();
    const records = { 'rsa1._domainkey.shop.example': rsa.record };
    const body = Buffer.from(signed.replace('Thank you', 'Thank YOU'));
    const subject = Buffer.from(signed.replace('Subject: Your order', 'Subject: Your refund'));
    // mailauth reports a body hash mismatch as neutral, RFC 6376 §6.1.3's PERMFAIL.
    assert.deepEqual(await verdicts(body, records), [
      'shop.example/rsa1:neutral (body hash did not verify)',
    ]);
    assert.deepEqual(await verdicts(subject, records), ['shop.example/rsa1:fail (bad signature)']);
  });

  it('survives the whitespace changes relaxed canonicalisation allows', async () => {
    const signer = createDkimSigner(
      [{ domain: 'shop.example', selector: 'ed1', privateKey: ed.pem }],
      { clock },
    );
    const signed = (await signer.sign(MESSAGE)).toString();
    const rewrapped = Buffer.from(
      signed
        .replace('Subject: Your order', 'subject:   Your   order')
        .replace('Thank you for your order.', 'Thank you  for your order.   '),
    );
    assert.deepEqual(await verdicts(rewrapped, { 'ed1._domainkey.shop.example': ed.record }), [
      'shop.example/ed1:pass',
    ]);
  });

  it('falls back to a parent domain, then to the envelope sender domain', async () => {
    const signer = createDkimSigner(
      [
        { domain: 'Shop.Example.', selector: 'ed1', privateKey: ed.pem },
        { domain: 'bounces.example', selector: 'rsa1', privateKey: rsa.pem },
      ],
      { clock },
    );
    const sub = Buffer.from(
      MESSAGE.toString().replace('news@shop.example', 'news@mail.shop.example'),
    );
    assert.equal(signer.signingDomain(sub), 'shop.example');
    const foreign = Buffer.from(
      MESSAGE.toString().replace('news@shop.example', 'news@client.example'),
    );
    assert.equal(signer.signingDomain(foreign), undefined);
    assert.equal(
      signer.signingDomain(foreign, { mailFrom: '<b+1@Bounces.Example>' }),
      'bounces.example',
    );

    const signed = await signer.sign(foreign, { mailFrom: 'b+1@bounces.example' });
    assert.deepEqual(await verdicts(signed, { 'rsa1._domainkey.bounces.example': rsa.record }), [
      'bounces.example/rsa1:pass',
    ]);
  });

  it('returns a message without a matching key unchanged', async () => {
    const signer = createDkimSigner([
      { domain: 'shop.example', selector: 'ed1', privateKey: ed.pem },
    ]);
    const foreign = Buffer.from(
      MESSAGE.toString().replace('news@shop.example', 'news@client.example'),
    );
    assert.equal(await signer.sign(foreign, { mailFrom: '' }), foreign);
    assert.equal(await createDkimSigner([]).sign(MESSAGE), MESSAGE);
  });

  it('keeps bare-LF messages bare-LF, and signs a message of headers only', async () => {
    const signer = createDkimSigner(
      [{ domain: 'shop.example', selector: 'ed1', privateKey: ed.pem }],
      { clock },
    );
    const lf = Buffer.from(MESSAGE.toString().replace(/\r\n/g, '\n'));
    const signedLf = await signer.sign(lf);
    assert.ok(!signatureFields(signedLf, lf).includes('\r'));
    const records = { 'ed1._domainkey.shop.example': ed.record };
    assert.deepEqual(await verdicts(signedLf, records), ['shop.example/ed1:pass']);

    const headersOnly = Buffer.from('From: news@shop.example\r\nSubject: ping\r\n');
    const signed = await signer.sign(headersOnly);
    assert.match(signatureFields(signed, headersOnly), /^DKIM-Signature:/);
    assert.deepEqual(await verdicts(Buffer.concat([signed, Buffer.from('\r\n')]), records), [
      'shop.example/ed1:pass',
    ]);
  });

  it('refuses unusable keys when it is built', () => {
    const bad =
      (privateKey: string, selector = 's1') =>
      () =>
        createDkimSigner([{ domain: 'shop.example', selector, privateKey }]);
    assert.throws(bad('not a key'), (err: unknown) => {
      assert.ok(err instanceof DkimKeyError);
      assert.equal(err.code, 'HIKYAKU_DKIM_KEY_INVALID');
      assert.match(err.message, /s1\._domainkey\.shop\.example/);
      return true;
    });
    assert.throws(bad(rsaKey(512).pem), /at least 1024/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(bad(pemOf(ec)), /rsa or ed25519/);
    assert.throws(bad(ed.pem, 'bad selector'), /invalid selector/);
  });
});
