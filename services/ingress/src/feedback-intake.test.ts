import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePool, type RelayPoolResource } from '@hikyaku/core';
import { isBulkMail } from './bulk.ts';
import { feedbackTarget } from './feedback-intake.ts';

function pool(name: string, feedback?: RelayPoolResource['spec']['feedback']) {
  return compilePool(
    {
      apiVersion: 'hikyaku.io/v1alpha1',
      kind: 'RelayPool',
      metadata: { name, namespace: 'mail' },
      spec: {
        ips: [{ address: '192.0.2.1', hostname: 'mta.example.com' }],
        ...(feedback ? { feedback } : {}),
      },
    },
    { assignment: {}, feedbackSecret: 'secret' },
  );
}

describe('feedback addresses', () => {
  const plain = pool('plain');
  const news = pool('news', { bounceDomain: 'bounces.example.com', signingKeyFile: 'k' });
  const shop = pool('shop', {
    bounceDomain: 'b.shop.example',
    complaintAddress: 'abuse-reports@shop.example',
    signingKeyFile: 'k',
  });
  const pools = [plain, news, shop];

  it('are the return paths of a bounce domain and the complaint address, case aside', () => {
    const token = 'b+Xk3Lq9PzRt0aB1cD2eF3gH.abcdefghijklmnop';
    assert.equal(feedbackTarget(pools, `${token}@bounces.example.com`)?.pool, news);
    assert.equal(feedbackTarget(pools, `${token}@BOUNCES.example.com.`)?.kind, 'bounce');
    assert.deepEqual(feedbackTarget(pools, 'FBL@bounces.example.com'), {
      pool: news,
      kind: 'complaint',
      address: 'fbl@bounces.example.com',
    });
    assert.equal(feedbackTarget(pools, 'abuse-reports@shop.example')?.pool, shop);
    assert.equal(feedbackTarget(pools, `${token}@b.shop.example`)?.pool, shop);
  });

  it('are nothing else: other local parts, malformed tokens, other domains', () => {
    for (const address of [
      'postmaster@bounces.example.com',
      'b+@bounces.example.com',
      'b+abc.short@bounces.example.com',
      'fbl@b.shop.example',
      'b+Xk3Lq9PzRt0aB1cD2eF3gH.abcdefghijklmnop@example.com',
      'someone@example.test',
      'no-at-sign',
    ]) {
      assert.equal(feedbackTarget(pools, address), undefined, address);
    }
  });
});

describe('bulk mail', () => {
  it('is mail with List-Unsubscribe or Precedence bulk, list or junk', () => {
    const mail = (header: string) =>
      Buffer.from(`From: a@example.com\r\n${header}\r\n\r\nbody\r\n`);
    assert.equal(isBulkMail(mail('List-Unsubscribe: <mailto:u@example.com>')), true);
    assert.equal(isBulkMail(mail('Precedence: bulk')), true);
    assert.equal(isBulkMail(mail('precedence:  list')), true);
    assert.equal(isBulkMail(mail('Subject: receipt')), false);
    assert.equal(isBulkMail(mail('Precedence: first-class')), false);
    assert.equal(
      isBulkMail(Buffer.from('Subject: hi\r\n\r\nList-Unsubscribe: in the body\r\n')),
      false,
    );
  });
});
