/**
 * The process metrics every service exposes, and what collecting them costs a service that
 * has nothing to do.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createRegistry, EVENT_LOOP_SAMPLE_MS } from './metrics.ts';

test('the registry exposes the event-loop delay series with the prefix and the component', async () => {
  const text = await createRegistry('scheduler').metrics();
  assert.match(text, /^hikyaku_nodejs_eventloop_lag_p99_seconds\{component="scheduler"\} /m);
  assert.match(text, /^hikyaku_process_cpu_seconds_total\{component="scheduler"\} /m);
});

test('an idle service is not woken a hundred times a second by its metrics', async () => {
  // A process of its own: its voluntary context switches are its sleeps ended by a timer
  // or a socket, and with a registry alone nothing but the delay sampler wakes it. The
  // default sampler (10 ms) woke it ~100 times a second.
  const seconds = 2;
  const script = `
    import { createRegistry } from ${JSON.stringify(new URL('./metrics.ts', import.meta.url).href)};
    createRegistry('ingress');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = process.resourceUsage().voluntaryContextSwitches;
    await new Promise((resolve) => setTimeout(resolve, ${seconds * 1000}));
    process.stdout.write(String(process.resourceUsage().voluntaryContextSwitches - before));
    process.exit(0);
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    '--input-type=module',
    '--eval',
    script,
  ]);
  const wakeUps = Number(stdout);
  const sampled = (seconds * 1000) / EVENT_LOOP_SAMPLE_MS;
  assert.ok(EVENT_LOOP_SAMPLE_MS >= 100);
  assert.ok(
    wakeUps < sampled * 3,
    `${wakeUps} wake-ups in ${seconds} s, sampling every ${EVENT_LOOP_SAMPLE_MS} ms`,
  );
});
