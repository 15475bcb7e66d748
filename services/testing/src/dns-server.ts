/**
 * A small authoritative DNS server on 127.0.0.1 for tests, so that MX resolution is tested
 * against real DNS packets without leaving loopback. It answers over UDP and TCP on the same
 * port (a resolver retries over TCP when a UDP answer is truncated, e.g. a long DKIM TXT
 * record), knows only the names it is given, and can be told to fail per name:
 *
 *   unknown name           -> NXDOMAIN
 *   known name, no records -> NOERROR with an empty answer (NODATA)
 *   servfail / refused     -> SERVFAIL / REFUSED
 *   timeout                -> no answer at all, so the client times out
 *
 * Every question is recorded, so a test can tell whether a cache answered instead.
 */

import type { Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { Server as NetServer, Socket } from 'node:net';

export interface MxSpec {
  preference: number;
  /** "." makes a null MX (RFC 7505) when it is the only MX of the name. */
  exchange: string;
}

export interface NameRecords {
  mx?: MxSpec[];
  a?: string[];
  aaaa?: string[];
  /** One TXT record per string; strings over 255 bytes are split as DNS requires. */
  txt?: string[];
  /** Reverse names (for x.x.x.x.in-addr.arpa and ip6.arpa owners). */
  ptr?: string[];
  /** Makes the name an alias; the target's records (if the server knows it) are added. */
  cname?: string;
  /** Seconds, for every record of this name. */
  ttl?: number;
}

export type DnsRecords = Record<string, NameRecords>;

export interface DnsFailures {
  servfail?: string[];
  refused?: string[];
  /** Names the server never answers. */
  timeout?: string[];
}

export interface DnsServerOptions extends DnsFailures {
  records?: DnsRecords;
}

export interface DnsQuery {
  name: string;
  /** 'A', 'AAAA', 'MX', 'TXT', ... or the number when the type has no name here. */
  type: string;
  transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  /** '127.0.0.1:PORT', as `Resolver.setServers` takes it. */
  readonly address: string;
  readonly port: number;
  /** Every question received, oldest first. */
  readonly queries: readonly DnsQuery[];
  /** Questions received for a name (any case, trailing dot ignored), optionally of one type. */
  queryCount(name?: string, type?: string): number;
  resetQueries(): void;
  /** Replaces the zone. */
  setRecords(records: DnsRecords): void;
  /** Replaces the failure lists. */
  setFailures(failures: DnsFailures): void;
  stop(): Promise<void>;
}

const DEFAULT_TTL = 300;
const TYPE = { A: 1, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41 } as const;
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const CLASS_IN = 1;
/** Largest UDP answer a client without EDNS accepts (RFC 1035 §4.2.1). */
const CLASSIC_UDP_LIMIT = 512;
const MAX_CNAME_CHAIN = 8;
const BIND_ATTEMPTS = 10;

// dns2 ships no type declarations; these cover the part of its API used here.
interface Dns2Header {
  qr: number;
  aa: number;
  tc: number;
  ra: number;
  rd: number;
  rcode: number;
}
interface Dns2Question {
  name: string;
  type: number;
  class: number;
}
interface Dns2Packet {
  header: Dns2Header;
  questions: Dns2Question[];
  answers: object[];
  authorities: object[];
  additionals: Array<{ type: number; class: number }>;
  toBuffer(): Buffer;
}
type Dns2Send = (response: Dns2Packet | Buffer) => unknown;
// The servers emit 'request' (packet, send, peer) besides their socket's own events.
interface Dns2Module {
  UDPServer: new (options: { type: 'udp4' }) => UdpSocket;
  TCPServer: new () => NetServer;
  Packet: {
    createResponseFromRequest(request: Dns2Packet): Dns2Packet;
  };
}

const dns2 = createRequire(import.meta.url)('dns2') as Dns2Module;

interface Zone {
  records: Map<string, NameRecords>;
  servfail: Set<string>;
  refused: Set<string>;
  timeout: Set<string>;
}

type Answer = { drop: true } | { drop: false; rcode: number; answers: object[] };

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function nameSet(names: string[] | undefined): Set<string> {
  return new Set((names ?? []).map(normaliseName));
}

function zoneRecords(records: DnsRecords | undefined): Map<string, NameRecords> {
  return new Map(Object.entries(records ?? {}).map(([name, r]) => [normaliseName(name), r]));
}

function txtChunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

function recordsOfType(owner: string, entry: NameRecords, type: number): object[] {
  const base = { name: owner, type, class: CLASS_IN, ttl: entry.ttl ?? DEFAULT_TTL };
  switch (type) {
    case TYPE.A:
      return (entry.a ?? []).map((address) => ({ ...base, address }));
    case TYPE.AAAA:
      return (entry.aaaa ?? []).map((address) => ({ ...base, address }));
    case TYPE.MX:
      return (entry.mx ?? []).map((mx) => ({
        ...base,
        priority: mx.preference,
        exchange: mx.exchange,
      }));
    case TYPE.TXT:
      return (entry.txt ?? []).map((text) => ({ ...base, data: txtChunks(text) }));
    case TYPE.PTR:
      return (entry.ptr ?? []).map((domain) => ({ ...base, domain }));
    default:
      return [];
  }
}

function cnameRecord(owner: string, entry: NameRecords, target: string): object {
  return {
    name: owner,
    type: TYPE.CNAME,
    class: CLASS_IN,
    ttl: entry.ttl ?? DEFAULT_TTL,
    domain: target,
  };
}

/** What the zone says about one question; pure, so the answering rules read in one place. */
function answerQuestion(zone: Zone, question: Dns2Question): Answer {
  const asked = normaliseName(question.name);
  if (zone.timeout.has(asked)) return { drop: true };
  if (zone.servfail.has(asked)) return { drop: false, rcode: RCODE.SERVFAIL, answers: [] };
  if (zone.refused.has(asked)) return { drop: false, rcode: RCODE.REFUSED, answers: [] };

  const answers: object[] = [];
  let owner = question.name;
  for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
    const entry = zone.records.get(normaliseName(owner));
    if (!entry) return { drop: false, rcode: RCODE.NXDOMAIN, answers };
    if (entry.cname !== undefined && question.type !== TYPE.CNAME) {
      answers.push(cnameRecord(owner, entry, entry.cname));
      owner = entry.cname;
      continue;
    }
    const own =
      entry.cname !== undefined
        ? [cnameRecord(owner, entry, entry.cname)]
        : recordsOfType(owner, entry, question.type);
    return { drop: false, rcode: RCODE.NOERROR, answers: [...answers, ...own] };
  }
  // A CNAME loop or an over-long chain: a real server gives up the same way.
  return { drop: false, rcode: RCODE.SERVFAIL, answers: [] };
}

function udpLimit(request: Dns2Packet): number {
  // An EDNS OPT record carries the client's UDP buffer size in its class field (RFC 6891).
  const opt = request.additionals.find((r) => r.type === TYPE.OPT);
  return opt ? Math.max(CLASSIC_UDP_LIMIT, opt.class) : CLASSIC_UDP_LIMIT;
}

function buildResponse(request: Dns2Packet, answer: Answer & { drop: false }): Dns2Packet {
  const response = dns2.Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  response.header.ra = 0;
  response.header.rcode = answer.rcode;
  response.answers = answer.answers;
  response.authorities = [];
  return response;
}

function truncated(request: Dns2Packet): Dns2Packet {
  const response = dns2.Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  response.header.tc = 1;
  response.answers = [];
  response.authorities = [];
  return response;
}

async function listenUdp(port: number): Promise<UdpSocket> {
  const udp = new dns2.UDPServer({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, '127.0.0.1', () => {
      udp.off('error', reject);
      resolve();
    });
  });
  return udp;
}

async function listenTcp(port: number): Promise<NetServer | undefined> {
  const tcp = new dns2.TCPServer();
  try {
    tcp.listen({ port, host: '127.0.0.1' });
    await once(tcp, 'listening');
    return tcp;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw err;
  }
}

/** UDP and TCP on one port, because a resolver retries over TCP on the port it was given. */
async function bindBoth(): Promise<{ udp: UdpSocket; tcp: NetServer; port: number }> {
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const udp = await listenUdp(0);
    const port = udp.address().port;
    const tcp = await listenTcp(port);
    if (tcp) return { udp, tcp, port };
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  }
  throw new Error(`no port free for both UDP and TCP after ${BIND_ATTEMPTS} attempts`);
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const zone: Zone = {
    records: zoneRecords(options.records),
    servfail: nameSet(options.servfail),
    refused: nameSet(options.refused),
    timeout: nameSet(options.timeout),
  };
  const queries: DnsQuery[] = [];
  const connections = new Set<Socket>();
  const { udp, tcp, port } = await bindBoth();

  const answer = (request: Dns2Packet, transport: 'udp' | 'tcp'): Answer => {
    const question = request.questions[0];
    if (!question) return { drop: false, rcode: RCODE.REFUSED, answers: [] };
    queries.push({
      name: normaliseName(question.name),
      type: TYPE_NAMES.get(question.type) ?? String(question.type),
      transport,
    });
    return answerQuestion(zone, question);
  };

  // A reply to a socket that closed meanwhile is the client's business, not a test failure.
  const ignore = (): void => {};

  udp.on('request', (request: Dns2Packet, send: Dns2Send) => {
    const result = answer(request, 'udp');
    if (result.drop) return;
    const response = buildResponse(request, result);
    const bytes = response.toBuffer();
    Promise.resolve(send(bytes.length > udpLimit(request) ? truncated(request) : bytes)).catch(
      ignore,
    );
  });
  udp.on('requestError', ignore);
  udp.on('error', ignore);

  tcp.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('error', ignore);
    socket.once('close', () => connections.delete(socket));
  });
  tcp.on('request', (request: Dns2Packet, send: Dns2Send) => {
    const result = answer(request, 'tcp');
    if (result.drop) return;
    send(buildResponse(request, result));
  });
  tcp.on('requestError', ignore);
  tcp.on('error', ignore);

  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    queryCount(name?: string, type?: string): number {
      const wanted = name === undefined ? undefined : normaliseName(name);
      const wantedType = type?.toUpperCase();
      return queries.filter(
        (q) =>
          (wanted === undefined || q.name === wanted) &&
          (wantedType === undefined || q.type === wantedType),
      ).length;
    },
    resetQueries(): void {
      queries.length = 0;
    },
    setRecords(records: DnsRecords): void {
      zone.records = zoneRecords(records);
    },
    setFailures(failures: DnsFailures): void {
      zone.servfail = nameSet(failures.servfail);
      zone.refused = nameSet(failures.refused);
      zone.timeout = nameSet(failures.timeout);
    },
    async stop(): Promise<void> {
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
