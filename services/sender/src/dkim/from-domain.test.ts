import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainOfAddress, headerFields, headerSection, parseFromDomain } from './from-domain.ts';

function message(from: string): string {
  return `Subject: hi\r\nFrom: ${from}\r\nTo: b@example.net\r\n\r\nFrom: body@wrong.example\r\n`;
}

describe('parseFromDomain', () => {
  it('reads the domain of a plain or named From', () => {
    assert.equal(parseFromDomain(message('a@Shop.Example.COM')), 'shop.example.com');
    assert.equal(parseFromDomain(message('Shop <news@shop.example>')), 'shop.example');
    assert.equal(parseFromDomain(Buffer.from(message('<news@shop.example.>'))), 'shop.example');
  });

  it('is not fooled by quoted display names, comments or quoted local parts', () => {
    assert.equal(
      parseFromDomain(message('"x@evil.example, <y@evil.example>" <a@good.example>')),
      'good.example',
    );
    assert.equal(
      parseFromDomain(message('(a@evil.example) a@good.example (Name)')),
      'good.example',
    );
    assert.equal(parseFromDomain(message('"odd@local"@good.example')), 'good.example');
  });

  it('takes the first mailbox of a list or a group', () => {
    assert.equal(parseFromDomain(message('a@one.example, b@two.example')), 'one.example');
    assert.equal(parseFromDomain(message('Team: a@one.example, b@two.example;')), 'one.example');
  });

  it('unfolds a folded From and matches the field name in any case', () => {
    const raw = 'FROM: "A very long name"\r\n\t<a@folded.example>\r\n\r\nbody';
    assert.equal(parseFromDomain(raw), 'folded.example');
  });

  it('reads bare-LF messages and IDN domains', () => {
    assert.equal(
      parseFromDomain('From: a@bücher.example\nSubject: x\n\nbody\n'),
      'xn--bcher-kva.example',
    );
  });

  it('is undefined without a From or without an address in it', () => {
    assert.equal(parseFromDomain('Subject: x\r\n\r\nFrom: a@body.example\r\n'), undefined);
    assert.equal(parseFromDomain(message('undisclosed')), undefined);
  });
});

describe('header helpers', () => {
  it('stops at the first empty line', () => {
    assert.equal(headerSection('A: 1\r\nB: 2\r\n\r\nC: 3'), 'A: 1\r\nB: 2');
    assert.equal(headerSection('A: 1\nB: 2\n\nC: 3'), 'A: 1\nB: 2');
    assert.equal(headerSection('A: 1'), 'A: 1');
  });

  it('joins continuation lines', () => {
    assert.deepEqual(headerFields('A: 1\r\n 2\r\nB:3'), [
      { name: 'A', value: '1 2' },
      { name: 'B', value: '3' },
    ]);
  });

  it('reads envelope addresses, with or without brackets', () => {
    assert.equal(domainOfAddress('<bounce@Mail.Example>'), 'mail.example');
    assert.equal(domainOfAddress('bounce@mail.example'), 'mail.example');
    assert.equal(domainOfAddress('<>'), undefined);
    assert.equal(domainOfAddress(''), undefined);
  });
});
