import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandBackError, SourceAddressAbsentError, TlsRequiredError } from './errors.ts';
import { outcomesForFailure, outcomesForSend, shouldTryNextTarget } from './outcomes.ts';
import {
  AllTargetsFailedError,
  DnsLookupError,
  DnsTemporaryError,
  DomainNotFoundError,
  NullMxError,
} from './routing/errors.ts';
import type { SessionPhase, SmtpFailure } from './smtp-session.ts';

function failure(
  phase: SessionPhase,
  fields: Partial<Omit<SmtpFailure, 'phase'>> & { message?: string } = {},
): SmtpFailure {
  const { message, ...rest } = fields;
  return Object.assign(new Error(message ?? 'failed'), { phase }, rest);
}

const place = { host: 'mx1.example.test', address: '192.0.2.25', port: 25 };

describe('shouldTryNextTarget', () => {
  it('moves on when a host cannot be reached or will not start a session', () => {
    assert.equal(shouldTryNextTarget(failure('connect', { code: 'ECONNREFUSED' })), true);
    assert.equal(shouldTryNextTarget(failure('connect', { code: 'ETIMEDOUT' })), true);
    assert.equal(shouldTryNextTarget(failure('setup', { code: 'ETIMEDOUT' })), true);
    assert.equal(shouldTryNextTarget(failure('setup', { code: 'ETLS' })), true);
    assert.equal(
      shouldTryNextTarget(failure('setup', { code: 'EPROTOCOL', responseCode: 421 })),
      true,
    );
    assert.equal(shouldTryNextTarget(new TlsRequiredError('mx1.example.test', 'strict')), true);
  });

  it('stops at a 5xx greeting, once a transaction began, and for our own failures', () => {
    assert.equal(
      shouldTryNextTarget(failure('setup', { code: 'EPROTOCOL', responseCode: 554 })),
      false,
    );
    assert.equal(shouldTryNextTarget(failure('envelope', { code: 'ECONNECTION' })), false);
    assert.equal(shouldTryNextTarget(failure('data', { code: 'ETIMEDOUT' })), false);
    assert.equal(
      shouldTryNextTarget(
        failure('connect', { code: 'ECONNECTION', originalCode: 'EADDRNOTAVAIL' }),
      ),
      false,
    );
    assert.equal(shouldTryNextTarget(new HandBackError('stopping')), false);
    assert.equal(shouldTryNextTarget(new Error('bug')), false);
  });
});

describe('outcomesForFailure', () => {
  const rcpts = ['a@example.test', 'b@example.test'];

  it('defers a refused connection, naming the host and its address', () => {
    const [a, b] = outcomesForFailure(
      rcpts,
      failure('connect', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }),
      place,
    );
    assert.deepEqual(a, {
      rcpt: 'a@example.test',
      status: 'deferred',
      code: 451,
      enhanced: '4.4.1',
      text: '4.4.1 connect to mx1.example.test[192.0.2.25]:25: connect ECONNREFUSED',
      remoteHost: 'mx1.example.test',
      errorCode: 'ECONNREFUSED',
    });
    assert.equal(b?.rcpt, 'b@example.test');
  });

  it('defers a timeout with 4.4.2 and says where in the session it happened', () => {
    const [o] = outcomesForFailure(rcpts, failure('data', { code: 'ETIMEDOUT' }), place);
    assert.equal(o?.status, 'deferred');
    assert.equal(o?.enhanced, '4.4.2');
    assert.equal(o?.errorCode, 'ETIMEDOUT');
    assert.match(o?.text ?? '', /timed out while sending the message$/);
  });

  it('keeps the reply of a refused MAIL FROM or DATA, failing on 5xx and deferring on 4xx', () => {
    const refused = failure('envelope', {
      code: 'EENVELOPE',
      responseCode: 550,
      response: '550 5.7.1 Sender rejected',
    });
    assert.deepEqual(
      outcomesForFailure(['a@example.test'], refused, place).map((o) => [
        o.status,
        o.code,
        o.enhanced,
        o.text,
      ]),
      [['failed', 550, '5.7.1', '550 5.7.1 Sender rejected']],
    );
    const busy = failure('data', {
      code: 'EMESSAGE',
      responseCode: 451,
      response: '451 4.3.0 Try later',
    });
    assert.equal(outcomesForFailure(['a@example.test'], busy, place)[0]?.status, 'deferred');
  });

  it('gives each refused recipient its own reply when all of them were refused', () => {
    const err = failure('envelope', {
      code: 'EENVELOPE',
      responseCode: 452,
      response: '452 4.2.2 Mailbox full',
      rejectedErrors: [
        failure('envelope', {
          recipient: 'a@example.test',
          responseCode: 550,
          response: '550 5.1.1 No such user',
        }),
        failure('envelope', {
          recipient: 'b@example.test',
          responseCode: 452,
          response: '452 4.2.2 Mailbox full',
        }),
      ],
    });
    assert.deepEqual(
      outcomesForFailure(rcpts, err, place).map((o) => [o.rcpt, o.status, o.enhanced]),
      [
        ['a@example.test', 'failed', '5.1.1'],
        ['b@example.test', 'deferred', '4.2.2'],
      ],
    );
  });

  it('fails a message larger than the receiver announced it takes', () => {
    const err = failure('envelope', {
      code: 'EMESSAGE',
      message: 'Message size larger than allowed 1000',
    });
    const [o] = outcomesForFailure(['a@example.test'], err, place);
    assert.deepEqual([o?.status, o?.code, o?.enhanced], ['failed', 552, '5.3.4']);
  });

  it('defers when the source address cannot be bound', () => {
    const err = failure('connect', { code: 'EADDRNOTAVAIL', message: 'bind EADDRNOTAVAIL' });
    const [o] = outcomesForFailure(['a@example.test'], err, place);
    assert.deepEqual([o?.status, o?.errorCode], ['deferred', 'HIKYAKU_SOURCE_IP_ABSENT']);
  });

  it('takes routing replies as they are: null MX and NXDOMAIN fail, SERVFAIL defers', () => {
    const nullMx = outcomesForFailure(rcpts, new NullMxError('example.test'));
    assert.deepEqual(
      nullMx.map((o) => [o.status, o.code, o.enhanced, o.errorCode]),
      [
        ['failed', 556, '5.1.10', 'HIKYAKU_NULL_MX'],
        ['failed', 556, '5.1.10', 'HIKYAKU_NULL_MX'],
      ],
    );
    const [nx] = outcomesForFailure(rcpts, new DomainNotFoundError('example.test'));
    assert.deepEqual([nx?.status, nx?.code, nx?.enhanced], ['failed', 550, '5.1.2']);
    const servfail = new DnsTemporaryError(
      'example.test',
      new DnsLookupError('MX', 'example.test', 'ESERVFAIL'),
    );
    const [sf] = outcomesForFailure(rcpts, servfail);
    assert.deepEqual([sf?.status, sf?.code, sf?.enhanced], ['deferred', 451, '4.4.3']);
  });

  it('reports the last host tried when every host failed', () => {
    const err = new AllTargetsFailedError('example.test', [
      { target: place, error: failure('connect', { code: 'ECONNREFUSED' }) },
      {
        target: { host: 'mx2.example.test', address: '192.0.2.26', port: 25 },
        error: failure('setup', {
          code: 'EPROTOCOL',
          responseCode: 421,
          response: '421 4.7.0 Busy',
        }),
      },
    ]);
    const [o] = outcomesForFailure(['a@example.test'], err);
    assert.deepEqual(
      [o?.status, o?.code, o?.enhanced, o?.remoteHost],
      ['deferred', 421, '4.7.0', 'mx2.example.test'],
    );
  });

  it('defers for our own problems with their code', () => {
    const [absent] = outcomesForFailure(
      ['a@example.test'],
      new SourceAddressAbsentError('192.0.2.1', 'pool-sender-0'),
    );
    assert.deepEqual(
      [absent?.status, absent?.code, absent?.errorCode],
      ['deferred', 451, 'HIKYAKU_SOURCE_IP_ABSENT'],
    );
    const [tls] = outcomesForFailure(['a@example.test'], new TlsRequiredError('mx.test', 'p'));
    assert.deepEqual([tls?.enhanced, tls?.remoteHost], ['4.7.4', 'mx.test']);
    const [other] = outcomesForFailure(['a@example.test'], new Error('disk on fire'));
    assert.deepEqual([other?.status, other?.enhanced], ['deferred', '4.3.0']);
  });
});

describe('outcomesForSend', () => {
  it('delivers accepted recipients with the queue id, and reports each refusal', () => {
    const outcomes = outcomesForSend(
      ['a@example.test', 'b@example.test', 'c@example.test'],
      {
        accepted: ['a@example.test', 'c@example.test'],
        rejected: [{ rcpt: 'b@example.test', code: 550, response: '550 5.1.1 Unknown user' }],
        response: '250 2.0.0 Ok: queued as 4XyZ12',
      },
      'mx1.example.test',
    );
    assert.deepEqual(
      outcomes.map((o) => [o.rcpt, o.status, o.code, o.enhanced, o.remoteQueueId ?? null]),
      [
        ['a@example.test', 'delivered', 250, '2.0.0', '4XyZ12'],
        ['b@example.test', 'failed', 550, '5.1.1', null],
        ['c@example.test', 'delivered', 250, '2.0.0', '4XyZ12'],
      ],
    );
    assert.ok(outcomes.every((o) => o.remoteHost === 'mx1.example.test'));
  });
});
