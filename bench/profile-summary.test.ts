import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import { test } from 'node:test';
import { monotonicMicros } from './proc-stats.ts';
import { parseWindow, placeOf, summarizeProfile, type Window } from './profile-summary.ts';

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
    startTime: 0,
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

test('a window keeps the samples taken in it, by the deltas summed from the start', () => {
  const profile = {
    startTime: 1_000_000,
    nodes: [
      { id: 1, callFrame: frame('early', 'file:///app/services/ingress/dist/a.js') },
      { id: 2, callFrame: frame('late', 'file:///app/services/ingress/dist/b.js') },
    ],
    // Taken at 1,001,000 (early), 1,003,000 (early), 1,006,000 (late), 1,010,000 (late).
    samples: [1, 1, 2, 2],
    timeDeltas: [1000, 2000, 3000, 4000, 5000],
  };
  const late = summarizeProfile(profile, 25, { from: 1_005_000, to: 1_020_000 });
  assert.equal(late.busyMs, 9);
  assert.deepEqual(
    late.byFunction.map((s) => s.name),
    ['late b.js:1'],
  );
  // From inclusive, to exclusive: the sample at 1,006,000 is left out.
  const first = summarizeProfile(profile, 25, { from: 1_001_000, to: 1_006_000 });
  assert.equal(first.busyMs, 5);
  assert.deepEqual(
    first.byFunction.map((s) => s.name),
    ['early a.js:1'],
  );
  assert.equal(summarizeProfile(profile, 25, { from: 0, to: 1_000_500 }).busyMs, 0);
});

test('FROM-TO is read as the benchmark prints a run', () => {
  assert.deepEqual(parseWindow('120-450'), { from: 120, to: 450 });
  assert.equal(parseWindow('450-120'), null);
  assert.equal(parseWindow('120'), null);
  assert.equal(parseWindow('1.5-3'), null);
});

test("the benchmark's clock is a V8 profile's clock: a window selects what ran in it", async () => {
  // Each loop is its own function, so the samples of its work carry its name.
  function spinBefore() {
    let x = 0;
    for (const end = Date.now() + 150; Date.now() < end; ) {
      for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
    }
    return x;
  }
  function spinInside() {
    let x = 0;
    for (const end = Date.now() + 150; Date.now() < end; ) {
      for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
    }
    return x;
  }
  // One profile of three spans. On a loaded machine the sampler may miss a span altogether
  // (its thread not scheduled): then the profile shows nothing of the clocks, and is taken
  // again.
  for (let attempt = 1; ; attempt++) {
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
      spinBefore();
      const from = monotonicMicros();
      spinInside();
      const to = monotonicMicros();
      spinBefore();
      const stopped = (await session.post('Profiler.stop')).profile;
      const profile = {
        ...stopped,
        samples: stopped.samples ?? [],
        timeDeltas: stopped.timeDeltas ?? [],
      };
      // The transpiler may add a suffix to a name.
      const ran = (name: string, window?: Window) =>
        summarizeProfile(profile, 1000, window).byFunction.some((s) => s.name.startsWith(name));
      if (!(ran('spinBefore') && ran('spinInside')) && attempt < 3) continue;
      assert.ok(ran('spinBefore') && ran('spinInside'));
      assert.ok(ran('spinInside', { from, to }), 'the window holds what ran in it');
      assert.ok(!ran('spinBefore', { from, to }), 'and nothing that ran before or after it');
      return;
    } finally {
      session.disconnect();
    }
  }
});
