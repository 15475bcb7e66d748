import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parameterWithControls } from './command-parameters.ts';

test('the parameter whose decoded value has a control character is named', () => {
  assert.equal(parameterWithControls('MAIL FROM:<a@b.test> ENVID=a+0D+0Ab'), 'ENVID');
  assert.equal(parameterWithControls('MAIL FROM:<a@b.test> RET=HDRS envid=x+7F'), 'ENVID');
  assert.equal(parameterWithControls('RCPT TO:<a@b.test> ORCPT=rfc822;a+0A@b.test'), 'ORCPT');
  assert.equal(parameterWithControls('MAIL FROM: <a@b.test> SIZE=1+00'), 'SIZE');
  assert.equal(parameterWithControls('MAIL FROM:<a@b.test> X\u0001Y=+0D'), 'parameter');
});

test('values without control characters are left to the usual checks', () => {
  for (const line of [
    'MAIL FROM:<a@b.test>',
    'MAIL FROM:<a@b.test> ENVID=QQ+2B314159 RET=FULL SMTPUTF8',
    'RCPT TO:<a@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Btag@b.test',
    // Lower-case hex is not an escape for smtp-server either.
    'MAIL FROM:<a@b.test> ENVID=a+0d+0ab',
    'MAIL FROM:<a:b@c.test> ENVID=caf+C3+A9',
  ]) {
    assert.equal(parameterWithControls(line), undefined, line);
  }
});
