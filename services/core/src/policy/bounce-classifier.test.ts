import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  actionFor,
  classifyBounce,
  createBounceClassifier,
  normaliseFailure,
  ruleMatches,
  throttlePatternRules,
} from './bounce-classifier.ts';
import type { BounceRule } from './bounce-rules.ts';
import { PolicyError } from './errors.ts';

test('the enhanced code is read from the text when not given, and a given one wins', () => {
  assert.equal(classifyBounce({ code: 550, text: '5.1.1 no' }).enhancedCode, '5.1.1');
  const given = classifyBounce({ code: 550, enhancedCode: '5.2.1', text: '5.1.1 no' });
  assert.equal(given.enhancedCode, '5.2.1');
  assert.equal(given.rule, 'bad-mailbox-code');
});

test('a malformed enhanced code from the sender is ignored in favour of the text', () => {
  const result = classifyBounce({ code: 552, enhancedCode: 'x.y', text: '5.2.2 over' });
  assert.equal(result.enhancedCode, '5.2.2');
  assert.equal(result.category, 'mailbox-full');
});

test('the reply code is read from the raw reply when not given separately', () => {
  const result = classifyBounce({ text: '550 5.1.1 <a@example.org>... User unknown' });
  assert.equal(result.code, 550);
  assert.equal(result.text, '<a@example.org>... User unknown');
});

test('enhanced codes given separately reach the code-only rules', () => {
  const cases: Array<[number, string, string, string]> = [
    [550, '5.1.1', 'Requested action not taken', 'bad-mailbox-code'],
    [550, '5.1.2', 'Requested action not taken', 'bad-domain-code'],
    [452, '4.2.2', 'Requested action not taken', 'mailbox-full-code'],
    [552, '5.3.4', 'Requested action not taken', 'message-too-big-code'],
    [550, '5.5.2', 'Requested action not taken', 'protocol-enhanced'],
    [550, '5.7.0', 'Requested action not taken', 'policy-code'],
    [451, '4.4.1', 'No answer from host', 'network-code'],
  ];
  for (const [code, enhancedCode, text, rule] of cases) {
    assert.equal(classifyBounce({ code, enhancedCode, text }).rule, rule, enhancedCode);
  }
});

test('the reply code decides the class: a 4xx hard reply is retried and never suppresses', () => {
  const soft = classifyBounce({ code: 450, text: '4.1.1 <a@example.org>: User unknown' });
  assert.equal(soft.category, 'hard');
  assert.equal(soft.action, 'retry');
  assert.equal(soft.suppress, false);
  const hard = classifyBounce({ code: 550, text: '5.1.1 <a@example.org>: User unknown' });
  assert.equal(hard.action, 'bounce');
  assert.equal(hard.suppress, true);
});

test('without a reply code the enhanced code decides the class, and without both it is 4', () => {
  assert.equal(normaliseFailure({ enhancedCode: '5.1.1' }).replyClass, 5);
  assert.equal(normaliseFailure({ enhancedCode: '4.2.2' }).replyClass, 4);
  assert.equal(normaliseFailure({ text: 'something odd' }).replyClass, 4);
  assert.equal(classifyBounce({ text: 'something odd' }).action, 'retry');
});

test('a reply code outside 200-599 is ignored', () => {
  assert.equal(normaliseFailure({ code: 999, text: '550 5.1.1 x' }).code, 550);
  assert.equal(normaliseFailure({ code: 42 }).code, undefined);
});

test('only throttling is retried whatever the class; everything else follows it', () => {
  assert.equal(actionFor('throttled', 5), 'retry-throttled');
  assert.equal(actionFor('throttled', 4), 'retry-throttled');
  for (const category of ['hard', 'policy', 'auth', 'mailbox-full', 'rejected'] as const) {
    assert.equal(actionFor(category, 5), 'bounce');
    assert.equal(actionFor(category, 4), 'retry');
  }
});

test('connection errors without a reply are connection/retry; the error code leads the text', () => {
  const result = classifyBounce({ connectionError: 'ETIMEDOUT', text: 'Greeting never received' });
  assert.equal(result.category, 'connection');
  assert.equal(result.action, 'retry');
  assert.equal(result.text, 'ETIMEDOUT Greeting never received');
  assert.equal(result.code, undefined);
});

test('a failure with both a reply and an error code is classified by the reply', () => {
  const result = classifyBounce({ code: 550, connectionError: 'EENVELOPE', text: '5.1.1 unknown' });
  assert.equal(result.category, 'hard');
  assert.equal(result.text, 'unknown');
});

test('pool throttle patterns come before every built-in rule', () => {
  const classify = createBounceClassifier({ throttlePatterns: ['user unknown \\(busy\\)'] });
  const result = classify({ code: 550, text: '550 User unknown (busy)' });
  assert.equal(result.category, 'throttled');
  assert.equal(result.action, 'retry-throttled');
  assert.equal(result.rule, 'throttle-pattern:user unknown \\(busy\\)');
  assert.equal(classify({ code: 550, text: '550 User unknown' }).category, 'hard');
});

test('pool throttle patterns are case-insensitive and can match a connection error code', () => {
  // au answers overload with TCP resets; its rate policy can say so.
  const classify = createBounceClassifier({ throttlePatterns: ['^econnreset\\b'] });
  const reset = classify({ connectionError: 'ECONNRESET', text: 'read ECONNRESET' });
  assert.equal(reset.category, 'throttled');
  assert.equal(reset.action, 'retry-throttled');
  assert.equal(classify({ connectionError: 'ETIMEDOUT' }).category, 'connection');
});

test('a throttle pattern that does not compile is refused with a coded error naming it', () => {
  assert.throws(
    () => createBounceClassifier({ throttlePatterns: ['(unclosed'] }),
    (error: unknown) =>
      error instanceof PolicyError &&
      error.code === 'HIKYAKU_BAD_THROTTLE' &&
      error.message.includes('(unclosed') &&
      error.cause instanceof SyntaxError,
  );
});

test('throttlePatternRules builds throttled rules in the given order', () => {
  const rules = throttlePatternRules(['a', 'b']);
  assert.deepEqual(
    rules.map((r) => [r.name, r.category]),
    [
      ['throttle-pattern:a', 'throttled'],
      ['throttle-pattern:b', 'throttled'],
    ],
  );
});

test('ruleMatches requires every condition a rule states', () => {
  const rule: BounceRule = {
    name: 'r',
    category: 'policy',
    codes: [554],
    enhanced: ['5.7.*'],
    text: /blocked/i,
  };
  const base = normaliseFailure({ code: 554, text: '5.7.1 Blocked' });
  assert.equal(ruleMatches(rule, base), true);
  assert.equal(ruleMatches(rule, normaliseFailure({ code: 550, text: '5.7.1 Blocked' })), false);
  assert.equal(ruleMatches(rule, normaliseFailure({ code: 554, text: '5.1.1 Blocked' })), false);
  assert.equal(ruleMatches(rule, normaliseFailure({ code: 554, text: '5.7.1 ok' })), false);
  assert.equal(ruleMatches(rule, normaliseFailure({ code: 554, text: 'Blocked' })), false);
});

test('ruleMatches: a connection rule never matches a reply; a class rule checks the class', () => {
  const connection: BounceRule = { name: 'c', category: 'connection', connection: true };
  assert.equal(ruleMatches(connection, normaliseFailure({ connectionError: 'ECONNRESET' })), true);
  assert.equal(
    ruleMatches(connection, normaliseFailure({ code: 421, connectionError: 'ECONNRESET' })),
    false,
  );
  assert.equal(ruleMatches(connection, normaliseFailure({ text: 'no error code' })), false);
  const permanent: BounceRule = { name: 'p', category: 'rejected', replyClass: 5 };
  assert.equal(ruleMatches(permanent, normaliseFailure({ code: 554 })), true);
  assert.equal(ruleMatches(permanent, normaliseFailure({ code: 454 })), false);
});

test('a custom table replaces the built-in one; falling off its end is soft/retry', () => {
  const classify = createBounceClassifier({
    rules: [{ name: 'only', category: 'policy', text: /nope/ }],
  });
  assert.equal(classify({ code: 550, text: 'nope' }).rule, 'only');
  const unmatched = classify({ code: 550, text: '5.1.1 User unknown' });
  assert.equal(unmatched.rule, 'unmatched');
  assert.equal(unmatched.category, 'soft');
  assert.equal(unmatched.action, 'bounce');
  assert.equal(unmatched.suppress, false);
});

test('a RecipientOutcome of a connection failure (code 0, errorCode set) is a connection failure', () => {
  const result = classifyBounce({
    code: 0,
    connectionError: 'ECONNREFUSED',
    text: 'connect refused',
  });
  assert.equal(result.category, 'connection');
  assert.equal(result.code, undefined);
});
