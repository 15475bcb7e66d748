import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvReader, readCommonConfig } from './config.ts';
import { ConfigError } from './errors.ts';

test('configuration is read once into a frozen object with defaults', () => {
  const r = new EnvReader({ HIKYAKU_POOL: 'local_demo', HIKYAKU_HTTP_PORT: '9200' });
  const config = r.done(readCommonConfig(r, { httpPort: 9101 }));
  assert.equal(config.httpPort, 9200);
  assert.equal(config.natsUrl, 'nats://127.0.0.1:4222');
  assert.equal(config.pool, 'local_demo');
  assert.ok(Object.isFrozen(config));
});

test('every bad variable is named in one error', () => {
  const r = new EnvReader({ HIKYAKU_HTTP_PORT: 'eighty', HIKYAKU_LOG_LEVEL: 'loud' });
  assert.throws(
    () => r.done(readCommonConfig(r, { httpPort: 9101 })),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'HIKYAKU_BAD_CONFIG');
      assert.match(err.message, /HIKYAKU_HTTP_PORT must be an integer, got "eighty"/);
      assert.match(err.message, /HIKYAKU_LOG_LEVEL must be one of/);
      assert.match(err.message, /HIKYAKU_POOL is required/);
      return true;
    },
  );
});
