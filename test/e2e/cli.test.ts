/**
 * The `hikyaku` command's faces: usage and per-command help on stdout with exit 0, and a
 * mistyped command or option answered with the usage on stderr and exit status 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cliInvocation } from '@hikyaku/local';

/** The operator container's own bundle (`npm run build`), which runs only `operator`. */
const OPERATOR_BUNDLE = fileURLToPath(new URL('../../dist/operator/hikyaku.js', import.meta.url));

function hikyaku(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...cliInvocation(), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('hikyaku command line', () => {
  it('--help lists every command', () => {
    const { status, stdout } = hikyaku('--help');
    assert.equal(status, 0);
    for (const command of [
      'local',
      'ingress',
      'scheduler',
      'sender',
      'suppressions',
      'queue',
      'operator',
    ]) {
      assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'));
    }
  });

  it('local --help shows its options and starts nothing', () => {
    const { status, stdout } = hikyaku('local', '--help');
    assert.equal(status, 0);
    assert.match(stdout, /^usage: hikyaku local /);
    assert.match(stdout, /--pool FILE/);
    assert.match(stdout, /HIKYAKU_SMTP_PORT/);
  });

  it('each component has a --help of its own', () => {
    for (const component of ['ingress', 'scheduler', 'sender', 'operator']) {
      const { status, stdout } = hikyaku(component, '-h');
      assert.equal(status, 0, component);
      assert.match(stdout, new RegExp(`^usage: hikyaku ${component}`));
    }
  });

  it('a mistyped option prints the usage and exits 2', () => {
    const { status, stdout, stderr } = hikyaku('local', '--pol', 'x.yaml');
    assert.equal(status, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /Unknown option '--pol'/);
    assert.match(stderr, /usage: hikyaku local/);
    const component = hikyaku('sender', '--verbose');
    assert.equal(component.status, 2);
    assert.match(component.stderr, /usage: hikyaku sender/);
  });

  it('an unknown command prints the usage and exits 2', () => {
    const { status, stderr } = hikyaku('sned');
    assert.equal(status, 2);
    assert.match(stderr, /unknown command "sned"/);
    assert.match(stderr, /^usage: hikyaku <command>/m);
  });

  it("the operator's own bundle answers as `hikyaku operator` does", () => {
    const bundle = (...args: string[]) =>
      spawnSync(process.execPath, [OPERATOR_BUNDLE, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
      });
    const help = bundle('operator', '--help');
    assert.equal(help.status, 0);
    assert.equal(help.stdout, hikyaku('operator', '--help').stdout);
    const other = bundle('sender');
    assert.equal(other.status, 2);
    assert.match(other.stderr, /this build runs only the operator, not "sender"/);
    assert.ok(other.stderr.endsWith(help.stdout), 'the usage follows the refusal');
  });
});
