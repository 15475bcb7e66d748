import assert from 'node:assert/strict';
import { test } from 'node:test';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SmtpClientHookMissingError } from './errors.ts';
import { checkSmtpClientHooks } from './smtp-session.ts';

test('the start-up self-check passes on the pinned nodemailer and refuses one without the DSN hook', () => {
  checkSmtpClientHooks();
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
  const hook = proto._getDsnRcptToArgs;
  delete proto._getDsnRcptToArgs;
  try {
    assert.throws(
      () => checkSmtpClientHooks(),
      (err: unknown) =>
        err instanceof SmtpClientHookMissingError &&
        err.code === 'HIKYAKU_SMTP_CLIENT_HOOK_MISSING' &&
        /_getDsnRcptToArgs/.test(err.message),
    );
  } finally {
    proto._getDsnRcptToArgs = hook;
  }
});
