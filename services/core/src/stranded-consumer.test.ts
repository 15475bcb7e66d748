import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConsumerObservation, shouldRecreate, strandedSeq } from './stranded-consumer.ts';

const stranded: ConsumerObservation = {
  created: '2026-12-05T10:00:00Z',
  numPending: 0,
  numAckPending: 0,
  deliveredStreamSeq: 120,
  firstSeqOnSubject: 97,
};

test('a message behind the delivered floor with nothing pending or unacknowledged is stranded', () => {
  assert.equal(strandedSeq(stranded), 97);
  assert.equal(strandedSeq({ ...stranded, firstSeqOnSubject: 120 }), 120);
});

test('a consumer with nothing on its subject, or still owing deliveries, is healthy', () => {
  assert.equal(strandedSeq({ ...stranded, firstSeqOnSubject: undefined }), undefined);
  // Still to be delivered: beyond the floor, or counted as pending.
  assert.equal(strandedSeq({ ...stranded, firstSeqOnSubject: 121 }), undefined);
  assert.equal(strandedSeq({ ...stranded, numPending: 1 }), undefined);
  // Handed out and being worked on (or nak'ed with a delay): its acknowledgement will come.
  assert.equal(strandedSeq({ ...stranded, numAckPending: 3 }), undefined);
});

test('only the same message stranded on the same consumer in two checks recreates it', () => {
  assert.equal(shouldRecreate(undefined, stranded), false, 'one check is not enough');
  assert.equal(shouldRecreate(stranded, stranded), true);
  assert.equal(
    shouldRecreate(stranded, { ...stranded, deliveredStreamSeq: 180 }),
    true,
    'the consumer went on delivering new messages and still left this one behind',
  );
});

test('an acknowledgement in flight, a busy consumer or a recreated one is left alone', () => {
  // The acknowledged message was removed by the second check; a later one is now first.
  assert.equal(shouldRecreate(stranded, { ...stranded, firstSeqOnSubject: 130 }), false);
  assert.equal(shouldRecreate(stranded, { ...stranded, firstSeqOnSubject: undefined }), false);
  // Busy in the second check.
  assert.equal(shouldRecreate(stranded, { ...stranded, numAckPending: 1 }), false);
  // Healthy in the first check.
  assert.equal(shouldRecreate({ ...stranded, numAckPending: 2 }, stranded), false);
  // Another replica of the service recreated it between the checks.
  assert.equal(shouldRecreate(stranded, { ...stranded, created: '2026-12-05T10:00:07Z' }), false);
});
