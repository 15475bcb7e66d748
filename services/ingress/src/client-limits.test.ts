import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClientLimits, type LimitedSession } from './client-limits.ts';

const limits = {
  relay: {
    client: { sessions: 2, connectionsPerMinute: 4 },
    trusted: { sessions: 0, connectionsPerMinute: 0 },
  },
  submission: {
    client: { sessions: 1, connectionsPerMinute: 0 },
    trusted: { sessions: 0, connectionsPerMinute: 0 },
  },
};

function setup(now = () => 0) {
  const clients = createClientLimits({ limits, now });
  const open = (address: string, listener: 'relay' | 'submission' = 'relay', trusted = false) => {
    const session: LimitedSession = { clientKey: undefined, holdsClientSlot: false };
    return { session, refusal: clients.open(session, { listener, address, trusted }) };
  };
  return { clients, open };
}

test('a client holds at most its sessions per listener; a closed one frees a slot', () => {
  const { clients, open } = setup();
  const first = open('192.0.2.1');
  assert.equal(first.refusal, undefined);
  assert.equal(open('192.0.2.1').refusal, undefined);
  assert.equal(open('192.0.2.1').refusal, 'clientSessionLimit');
  // Other clients and other listeners have their own counts.
  assert.equal(open('192.0.2.2').refusal, undefined);
  assert.equal(open('192.0.2.1', 'submission').refusal, undefined);
  clients.close(first.session);
  assert.equal(open('192.0.2.1').refusal, undefined);
});

test('new connections per minute are limited, refused ones counted, in a fixed window', () => {
  let t = 0;
  const { clients, open } = setup(() => t);
  for (let i = 0; i < 4; i++) clients.close(open('192.0.2.1').session);
  assert.equal(open('192.0.2.1').refusal, 'clientRateLimit');
  t += 59_999;
  assert.equal(open('192.0.2.1').refusal, 'clientRateLimit');
  t += 1;
  assert.equal(open('192.0.2.1').refusal, undefined);
});

test('clients inside allowedNetworks get the trusted limits (none by default)', () => {
  const { open } = setup();
  for (let i = 0; i < 10; i++) assert.equal(open('192.0.2.1', 'relay', true).refusal, undefined);
});

test('an authenticated session stops counting; its client gets the trusted limits a while', () => {
  let t = 0;
  const { clients, open } = setup(() => t);
  const first = open('192.0.2.1', 'submission');
  assert.equal(open('192.0.2.1', 'submission').refusal, 'clientSessionLimit');
  clients.authenticated(first.session);
  // Trusted now: neither its sessions nor its rate are limited for the rest of the window.
  for (let i = 0; i < 10; i++) assert.equal(open('192.0.2.1', 'submission').refusal, undefined);
  const relay = open('192.0.2.3');
  clients.authenticated(relay.session);
  for (let i = 0; i < 10; i++) assert.equal(open('192.0.2.3').refusal, undefined);
  // The next window starts untrusted again: the ten sessions still open count.
  t += 60_000;
  assert.equal(open('192.0.2.1', 'submission').refusal, 'clientSessionLimit');
});

test('IPv6 clients are counted per /64', () => {
  const { open } = setup();
  open('2001:db8:1:2::1');
  open('2001:db8:1:2::2');
  assert.equal(open('2001:db8:1:2::3').refusal, 'clientSessionLimit');
  assert.equal(open('2001:db8:1:3::1').refusal, undefined);
});

test('memory is bounded: the oldest windows are forgotten', () => {
  const clients = createClientLimits({ limits, now: () => 0, maxClients: 2 });
  const open = (address: string) =>
    clients.open(
      { clientKey: undefined, holdsClientSlot: false },
      { listener: 'relay', address, trusted: false },
    );
  for (let i = 0; i < 4; i++) open('192.0.2.1');
  assert.equal(open('192.0.2.1'), 'clientRateLimit');
  open('192.0.2.2');
  open('192.0.2.3');
  // 192.0.2.1's window was dropped: it starts a new one.
  assert.notEqual(open('192.0.2.1'), 'clientRateLimit');
});
