/**
 * Postfix's side of `npm run bench -- --against postfix`: a private Postfix instance
 * configured as a plain relay (its own config and queue directories, nothing of the
 * system's Postfix is used or changed), Postfix's smtp-sink as the receiver both relays
 * deliver to, and smtp-source as the client both are measured with.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const SBIN = ['/usr/sbin', '/usr/lib/postfix/sbin'];
const MASTER = '/usr/lib/postfix/sbin/master';

export class PostfixMissingError extends Error {
  readonly code = 'HIKYAKU_BENCH_POSTFIX_MISSING';
  constructor(what: string) {
    super(
      `${what}; --against postfix needs Postfix installed (apt-get install postfix) and root (Postfix's master switches to its own user)`,
    );
  }
}

function tool(name: string): string {
  for (const dir of SBIN) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new PostfixMissingError(`${name} not found in ${SBIN.join(' or ')}`);
}

/** Fails with a clear message when Postfix, its tools or root are missing. */
export function checkPostfixAvailable(): void {
  tool('smtp-source');
  tool('smtp-sink');
  tool('postconf');
  if (!existsSync(MASTER)) throw new PostfixMissingError(`${MASTER} not found`);
  if (process.getuid?.() !== 0) throw new PostfixMissingError('not running as root');
}

/** Whether Postfix's smtp-source is installed (where checkPostfixAvailable looks). */
export function smtpSourceAvailable(): boolean {
  try {
    tool('smtp-source');
    return true;
  } catch {
    return false;
  }
}

export function postfixVersion(): string {
  return execFileSync(tool('postconf'), ['-dh', 'mail_version'], { encoding: 'utf8' }).trim();
}

async function waitForPort(host: string, port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** user + system CPU seconds of a process and of its children it has reaped. */
function processTreeCpu(pid: number): number {
  const own = (p: number): number => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
    } catch {
      return 0;
    }
  };
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  };
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    total += own(p);
    stack.push(...children(p));
  }
  return total;
}

/** Peak resident set of a process tree's members now alive, in MiB (summed). */
function processTreeRss(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (kids) stack.push(...kids.split(/\s+/).map(Number));
    } catch {
      // gone meanwhile
    }
  }
  return Math.round(total * 10) / 10;
}

export interface PostfixRelay {
  host: string;
  port: number;
  /** CPU seconds of every Postfix process so far (master and all its children). */
  cpuSeconds(): number;
  /** Resident set of the Postfix processes alive now, summed, in MiB. */
  rssMiB(): number;
  stop(): Promise<void>;
}

/**
 * The settings that differ from Postfix's defaults. Everything else (process limits,
 * destination concurrency 20, connection caching, queue manager) is Postfix as installed.
 */
export function postfixMainCf(dir: string, relayHost: string, relayPort: number): string {
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${join(dir, 'queue')}`,
    `data_directory = ${join(dir, 'data')}`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'myhostname = postfix.bench.test',
    // Relay everything from loopback to the sink; deliver nothing locally.
    'mydestination =',
    'mynetworks = 127.0.0.0/8',
    `relayhost = [${relayHost}]:${relayPort}`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    `maillog_file = ${join(dir, 'maillog')}`,
    `maillog_file_prefixes = ${dir}`,
    'smtp_tls_security_level = none',
    'smtpd_tls_security_level = none',
    '',
  ].join('\n');
}

/** Starts a private Postfix relay listening on host:port and relaying to the sink. */
export async function startPostfixRelay(options: {
  dir: string;
  host: string;
  port: number;
  relayHost: string;
  relayPort: number;
}): Promise<PostfixRelay> {
  const { dir, host, port } = options;
  for (const sub of ['queue', 'data']) mkdirSync(join(dir, sub), { recursive: true });
  // Postfix's daemons run as the postfix user and must reach their directories (a
  // mkdtemp folder is the creator's alone).
  for (let d = dir; d !== dirname(d) && d.startsWith(tmpdir()); d = dirname(d)) chmodSync(d, 0o755);
  const postfixUid = Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim());
  chownSync(join(dir, 'queue'), 0, 0);
  chownSync(join(dir, 'data'), postfixUid, 0);
  writeFileSync(join(dir, 'main.cf'), postfixMainCf(dir, options.relayHost, options.relayPort));
  // The installed master.cf with the smtp service on the bench's address and port.
  const master = readFileSync('/etc/postfix/master.cf', 'utf8').replace(
    /^smtp\s+inet\s.*$/m,
    `${host}:${port} inet n - n - - smtpd`,
  );
  writeFileSync(join(dir, 'master.cf'), master);
  // Creates the queue's subdirectories with the owners and modes Postfix wants.
  execFileSync(
    join('/usr/lib/postfix/sbin', 'post-install'),
    [`config_directory=${dir}`, 'meta_directory=/etc/postfix', 'create-missing'],
    { stdio: 'ignore' },
  );
  const child: ChildProcess = spawn(MASTER, ['-c', dir, '-d'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(host, port, 20_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(
      `Postfix did not start (see ${join(dir, 'maillog')}): ${(err as Error).message}`,
    );
  }
  const pid = child.pid as number;
  return {
    host,
    port,
    cpuSeconds: () => processTreeCpu(pid),
    rssMiB: () => processTreeRss(pid),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export interface CountingSink {
  port: number;
  pid: number | undefined;
  /** Messages received so far. */
  count(): number;
  stop(): void;
}

/** Postfix's smtp-sink: accepts everything, counts messages, keeps nothing. */
export async function startCountingSink(host: string, port: number): Promise<CountingSink> {
  const args = ['-c', `${host}:${port}`, '1024'];
  if (process.getuid?.() === 0) args.unshift('-u', 'postfix');
  const child = spawn(tool('smtp-sink'), args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let count = 0;
  let tail = '';
  child.stdout?.setEncoding('latin1');
  child.stdout?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-256);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    const last = all.at(-1);
    if (last) count = Number(last[1]);
  });
  await waitForPort(host, port, 10_000);
  return { port, pid: child.pid, count: () => count, stop: () => child.kill('SIGTERM') };
}

/**
 * smtp-source: `sessions` parallel sessions sending `messages` messages of `size` bytes,
 * a new connection per message, or with `reuse` every message of a session over one
 * connection. Each recipient gets a sequence number (-N) so no two are alike.
 */
export function runSmtpSource(options: {
  host: string;
  port: number;
  sessions: number;
  messages: number;
  size: number;
  reuse: boolean;
  to: string;
}): Promise<void> {
  const args = [
    '-N',
    ...(options.reuse ? ['-d'] : []),
    '-s',
    String(options.sessions),
    '-m',
    String(options.messages),
    '-l',
    String(options.size),
    '-f',
    'bench@bench.test',
    '-t',
    options.to,
    `${options.host}:${options.port}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(tool('smtp-source'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}: ${err.trim()}`)),
    );
  });
}
