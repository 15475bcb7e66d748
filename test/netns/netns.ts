/**
 * Linux network namespaces and veth pairs for the egress tests: what a pod's network looks
 * like (an interface carrying its addresses), built with `ip` from iproute2. Only private
 * 10.231.0.0/16 addresses are used, on links between namespaces the test creates, so no
 * packet reaches a real network; everything is removed by `destroy()`.
 */
import { execFileSync, spawnSync } from 'node:child_process';

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/bin/nft'];

function binary(candidates: string[], versionFlag: string): string | undefined {
  for (const candidate of candidates) {
    if (spawnSync(candidate, [versionFlag]).status === 0) return candidate;
  }
  return undefined;
}

const ipBinary = () => binary(IP, '-V');
const nftBinary = () => binary(NFT, '--version');

/** The smallest ruleset that translates source addresses: what a gateway namespace needs. */
const SNAT_PROBE = `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.231.255.2 snat to 10.231.255.1
  }
}
`;

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const ip = ipBinary();
  if (!ip) return 'the ip command (iproute2) is not installed';
  const probe = `hkprobe${process.pid}`;
  const made = spawnSync(ip, ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  try {
    // What the test builds: veth pairs and a bridge inside a namespace.
    for (const args of [
      ['link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb'],
      ['link', 'add', 'pbr', 'type', 'bridge'],
    ]) {
      const r = spawnSync(ip, ['-n', probe, ...args], { encoding: 'utf8' });
      if (r.status !== 0) return `ip ${args.join(' ')} failed: ${r.stderr.trim()}`;
    }
    return undefined;
  } finally {
    spawnSync(ip, ['netns', 'del', probe]);
  }
}

/**
 * Why a namespace cannot translate source addresses with nftables here (the gateway case),
 * or undefined when it can. Call only when `netnsUnavailable()` is undefined.
 */
export function snatUnavailable(): string | undefined {
  const ip = ipBinary();
  const nft = nftBinary();
  if (!ip) return 'the ip command (iproute2) is not installed';
  if (!nft) return 'the nft command (nftables) is not installed';
  const probe = `hkprobe${process.pid}`;
  const made = spawnSync(ip, ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `ip netns add failed: ${made.stderr.trim()}`;
  try {
    const r = spawnSync(ip, ['netns', 'exec', probe, nft, '-f', '-'], {
      input: SNAT_PROBE,
      encoding: 'utf8',
    });
    if (r.status !== 0) return `nft cannot set up source NAT here: ${r.stderr.trim()}`;
    return undefined;
  } finally {
    spawnSync(ip, ['netns', 'del', probe]);
  }
}

export interface Netns {
  /** Runs `ip ARGS` (in namespace `ns` when given); throws with ip's message on failure. */
  ip(args: string[], ns?: string): void;
  /** A new namespace with its loopback up. */
  addNamespace(name: string): void;
  /**
   * A veth pair: `a` in namespace `nsA`, `b` in `nsB` (undefined: the test's own), both up,
   * with the given addresses (CIDR).
   */
  addVeth(
    a: { ns?: string; name: string; addresses?: string[] },
    b: { ns?: string; name: string; addresses?: string[] },
  ): void;
  /** Loads an nftables ruleset (`nft -f`) into namespace `ns`; throws with nft's message. */
  nft(ns: string, ruleset: string): void;
  /** The command line to run `argv` inside a namespace. */
  exec(ns: string, argv: string[]): string[];
  destroy(): void;
}

export function createNetns(): Netns {
  const ip = ipBinary();
  if (!ip) throw new Error('the ip command (iproute2) is not installed');
  const namespaces: string[] = [];
  const rootLinks: string[] = [];
  const run = (args: string[], ns?: string) => {
    const full = ns ? ['-n', ns, ...args] : args;
    try {
      execFileSync(ip, full, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`ip ${full.join(' ')}: ${stderr || String(err)}`);
    }
  };
  const up = (name: string, ns: string | undefined, addresses: string[] = []) => {
    for (const address of addresses) run(['addr', 'add', address, 'dev', name], ns);
    run(['link', 'set', name, 'up'], ns);
  };
  return {
    ip: run,
    addNamespace(name) {
      run(['netns', 'add', name]);
      namespaces.push(name);
      run(['link', 'set', 'lo', 'up'], name);
    },
    addVeth(a, b) {
      run(['link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name]);
      if (!a.ns) rootLinks.push(a.name);
      if (!b.ns) rootLinks.push(b.name);
      if (a.ns) run(['link', 'set', a.name, 'netns', a.ns]);
      if (b.ns) run(['link', 'set', b.name, 'netns', b.ns]);
      up(a.name, a.ns, a.addresses);
      up(b.name, b.ns, b.addresses);
    },
    nft(ns, ruleset) {
      const nft = nftBinary();
      if (!nft) throw new Error('the nft command (nftables) is not installed');
      const r = spawnSync(ip, ['netns', 'exec', ns, nft, '-f', '-'], {
        input: ruleset,
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`nft -f in ${ns}: ${r.stderr.trim()}`);
    },
    exec(ns, argv) {
      return [ip, 'netns', 'exec', ns, ...argv];
    },
    destroy() {
      // A veth goes with either end; the ones left in the test's namespace are removed too.
      for (const ns of namespaces.splice(0)) spawnSync(ip, ['netns', 'del', ns]);
      for (const link of rootLinks.splice(0)) spawnSync(ip, ['link', 'del', link]);
    },
  };
}
