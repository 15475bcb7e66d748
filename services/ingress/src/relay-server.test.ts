import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSmtpServerHooks } from './relay-server.ts';

// smtp-server is pinned; an upgrade that changes what RelayConnection replaces fails here
// (and the ingress refuses to start) instead of silently skipping a new step.
test('the smtp-server internals the ingress overrides are as expected', () => {
  assert.doesNotThrow(() => checkSmtpServerHooks());
});
