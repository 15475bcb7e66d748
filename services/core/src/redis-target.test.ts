import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from './errors.ts';
import { parseRedisTarget } from './redis-target.ts';

test('a redis:// or rediss:// URL is one server, passed on as it is', () => {
  assert.deepEqual(parseRedisTarget('redis://10.0.0.1:6379/2'), {
    kind: 'server',
    url: 'redis://10.0.0.1:6379/2',
  });
  assert.equal(parseRedisTarget('rediss://:pw@cache:6380').kind, 'server');
});

test('a sentinel URL names the sentinels, the master, the password and the database', () => {
  assert.deepEqual(
    parseRedisTarget('redis-sentinel://:s%40cret@10.0.0.1,10.0.0.2:26380,[fd00::3]/hikyaku/1'),
    {
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: 'fd00::3', port: 26379 },
      ],
      name: 'hikyaku',
      password: 's@cret',
      db: 1,
    },
  );
  assert.deepEqual(parseRedisTarget('redis-sentinel://sentinel.redis:26379/mymaster'), {
    kind: 'sentinel',
    sentinels: [{ host: 'sentinel.redis', port: 26379 }],
    name: 'mymaster',
  });
});

test('what is wrong with a URL is named', () => {
  const bad: [string, RegExp][] = [
    ['localhost:6379', /must start with redis:\/\//],
    ['redis-sentinel://10.0.0.1:26379', /ends with \/<master name>/],
    ['redis-sentinel:///mymaster', /at least one sentinel/],
    ['redis-sentinel://10.0.0.1:99999/m', /out of range/],
    ['redis-sentinel://10.0.0.1/m/x', /"x" is not a number/],
  ];
  for (const [url, message] of bad) {
    assert.throws(
      () => parseRedisTarget(url),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      url,
    );
  }
});
