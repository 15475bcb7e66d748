import assert from 'node:assert/strict';
import { test } from 'node:test';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SmtpClientHookMissingError } from './errors.ts';
import { checkSmtpClientHooks } from './smtp-session.ts';

const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;

function refusesWith(pattern: RegExp): void {
  assert.throws(
    () => checkSmtpClientHooks(),
    (err: unknown) =>
      err instanceof SmtpClientHookMissingError &&
      err.code === 'HIKYAKU_SMTP_CLIENT_HOOK_MISSING' &&
      pattern.test(err.message),
  );
}

/** Runs `check` with one method of nodemailer's SMTPConnection replaced, or removed. */
function withMethod(name: string, replacement: unknown, check: () => void): void {
  const original = proto[name];
  if (replacement === undefined) delete proto[name];
  else proto[name] = replacement;
  try {
    check();
  } finally {
    proto[name] = original;
  }
}

/** Runs `check` with _setEnvelope's source reading `to` where the pinned one reads `from`. */
function withSetEnvelopeText(from: string, to: string, check: () => void): void {
  const original = String(proto._setEnvelope);
  const changed = original.replace(from, to);
  assert.notEqual(changed, original);
  withMethod(
    '_setEnvelope',
    Object.assign(() => undefined, { toString: () => changed }),
    check,
  );
}

test('the start-up self-check passes on the pinned nodemailer and refuses one without the DSN hook', () => {
  checkSmtpClientHooks();
  withMethod('_getDsnRcptToArgs', undefined, () => refusesWith(/_getDsnRcptToArgs/));
});

test('the self-check refuses a nodemailer whose message data path is not the one replaced', () => {
  withMethod('_actionSMTPStream', undefined, () => refusesWith(/_actionSMTPStream/));
  // A new step in the stream set-up would be skipped by the replacement.
  const original = proto._createSendStream as (...args: unknown[]) => unknown;
  withMethod(
    '_createSendStream',
    function changed(this: { emit(name: string): void }, ...args: unknown[]) {
      this.emit('data-start');
      return original.apply(this, args);
    },
    () => refusesWith(/_createSendStream\(\) it relies on \(calls: .*emit/),
  );
  // send() that no longer writes a Buffer message to the stream and ends it.
  withMethod(
    'send',
    function send(this: unknown, _envelope: unknown, message: { pipe(to: unknown): void }) {
      message.pipe(this);
    },
    () => refusesWith(/send\(\) it relies on/),
  );
  checkSmtpClientHooks();
});

test('the self-check refuses a nodemailer whose pipelined envelope is not the one relied on', () => {
  withMethod('_parseEhloExtensions', undefined, () => refusesWith(/_parseEhloExtensions/));
  // An envelope that pipelines on something else than the extensions the off switch edits.
  withSetEnvelopeText(
    "this._supportedExtensions.includes('PIPELINING')",
    'this.options.pipelining',
    () => refusesWith(/_setEnvelope\(\) that pipelines on/),
  );
  // DATA's reply no longer deciding a pipelined envelope.
  withMethod(
    '_actionDATA',
    function _actionDATA(this: unknown, str: string, callback: (e: null, s: string) => void) {
      callback(null, str);
    },
    () => refusesWith(/_actionDATA\(\) it relies on/),
  );
  checkSmtpClientHooks();
});

test('the self-check refuses a nodemailer that keeps the refused recipients elsewhere', () => {
  withSetEnvelopeText('this._envelope.rejectedErrors = []', 'this._envelope.refusals = []', () =>
    refusesWith(/_setEnvelope\(\) that sets this\._envelope\.rejectedErrors/),
  );
  checkSmtpClientHooks();
});
