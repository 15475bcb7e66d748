import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isDeclared, requestAccess, requireAccess } from './access.ts';
import { checkPrivateKey } from './secrets.ts';

describe('requestAccess', () => {
  it('maps REST requests to the RBAC access they need', () => {
    const cases: [string, string, boolean, string][] = [
      ['GET', '/apis/hikyaku.io/v1alpha1/relaypools', false, 'list hikyaku.io/relaypools -'],
      ['GET', '/apis/hikyaku.io/v1alpha1/relaypools', true, 'watch hikyaku.io/relaypools -'],
      ['GET', '/api/v1/watch/namespaces/mail/secrets', false, 'watch /secrets mail'],
      [
        'GET',
        '/apis/apps/v1/namespaces/mail/statefulsets/tx-sender',
        false,
        'get apps/statefulsets mail',
      ],
      [
        'PUT',
        '/apis/apps/v1/namespaces/mail/statefulsets/tx-sender',
        false,
        'update apps/statefulsets mail',
      ],
      [
        'PATCH',
        '/apis/hikyaku.io/v1alpha1/namespaces/mail/relaypools/tx/status',
        false,
        'patch hikyaku.io/relaypools/status mail',
      ],
      [
        'POST',
        '/apis/events.k8s.io/v1/namespaces/mail/events',
        false,
        'create events.k8s.io/events mail',
      ],
      ['DELETE', '/api/v1/namespaces/mail/secrets', false, 'deletecollection /secrets mail'],
    ];
    for (const [method, path, watch, expected] of cases) {
      const a = requestAccess(method, path, watch);
      assert.equal(`${a?.verb} ${a?.group}/${a?.resource} ${a?.namespace ?? '-'}`, expected, path);
    }
    assert.equal(requestAccess('GET', '/apis/apps/v1', false), undefined, 'discovery');
    assert.equal(requestAccess('GET', '/version', false), undefined);
  });

  it('the client refuses what the table does not declare', () => {
    assert.equal(isDeclared('', 'secrets', 'watch'), true);
    assert.equal(isDeclared('', 'secrets', 'get'), false);
    assert.throws(() => requireAccess('apps', 'statefulsets', 'patch'), {
      code: 'HIKYAKU_ACCESS_NOT_DECLARED',
    });
  });
});

describe('checkPrivateKey', () => {
  const pem = (k: { export(o: object): string | Buffer }) =>
    k.export({ type: 'pkcs8', format: 'pem' }).toString();

  it('takes RSA of 1024 bits or more and Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.equal(checkPrivateKey(pem(rsa)), undefined);
    assert.equal(checkPrivateKey(pem(generateKeyPairSync('ed25519').privateKey)), undefined);
  });

  it('says why anything else is not usable', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey;
    assert.match(checkPrivateKey(pem(small)) ?? '', /RSA key of 512 bits/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    assert.match(
      checkPrivateKey(pem(ec)) ?? '',
      /a key of type ec; DKIM signs with rsa or ed25519/,
    );
    assert.match(checkPrivateKey('hello') ?? '', /not a PEM private key/);
  });
});
