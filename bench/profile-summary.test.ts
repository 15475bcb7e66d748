import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeOf, summarizeProfile } from './profile-summary.ts';

const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

test('a frame is placed by package, Node built-in, service file or V8', () => {
  const file = 'file:///app/node_modules/@nats-io/nats-core/lib/nats.js';
  assert.equal(placeOf(frame('request', file)), '@nats-io/nats-core');
  assert.equal(
    placeOf(frame('send', 'file:///app/node_modules/ioredis/built/Redis.js')),
    'ioredis',
  );
  assert.equal(placeOf(frame('write', 'node:net')), 'node:net');
  assert.equal(
    placeOf(frame('acceptMessage', 'file:///app/services/ingress/dist/accept-message.js')),
    'services/ingress/accept-message.js',
  );
  assert.equal(
    placeOf(frame('turn', 'file:///app/services/scheduler/src/parking.ts')),
    'services/scheduler/parking.ts',
  );
  assert.equal(placeOf(frame('(garbage collector)')), '(garbage collector)');
  assert.equal(placeOf(frame('writeUtf8String')), '(native)');
});

test('busy time leaves idle out; each sample counts the time delta after it', () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      { id: 4, callFrame: frame('decide', 'file:///app/services/scheduler/dist/admission.js', 57) },
      { id: 5, callFrame: frame('writeBuffer') },
      { id: 6, callFrame: frame('(program)') },
    ],
    // Samples and the microseconds that follow each (V8 stores the delta before a sample).
    samples: [2, 4, 4, 3, 5, 6, 2],
    timeDeltas: [0, 5000, 3000, 1000, 2000, 4000, 7000, 9000],
  };
  const summary = summarizeProfile(profile);
  // 4: 3000 + 1000, 3: 2000, 5: 4000 → 10 ms busy; idle (5000, 9000) and program (7000) out.
  assert.equal(summary.busyMs, 10);
  assert.deepEqual(summary.byPlace, [
    { name: 'services/scheduler/admission.js', ms: 4, percent: 40 },
    { name: '(native)', ms: 4, percent: 40 },
    { name: '(garbage collector)', ms: 2, percent: 20 },
  ]);
  assert.deepEqual(summary.byFunction[0], { name: 'decide admission.js:58', ms: 4, percent: 40 });
  assert.equal(summarizeProfile(profile, 1).byFunction.length, 1);
});
