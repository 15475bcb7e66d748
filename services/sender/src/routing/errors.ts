/**
 * Why mail for a domain cannot be routed. Each failure carries the reply the sender reports
 * for every recipient of the domain, and whether retrying later can help: permanent ones
 * bounce, temporary ones are deferred by the scheduler.
 */
import { HikyakuError } from '@hikyaku/core';

/**
 * A DNS query that got no usable answer (SERVFAIL, REFUSED, timeout, ...). Raised by the
 * DNS client, which does not know which recipient domain the query serves; the resolver
 * turns it into a DnsTemporaryError for that domain.
 */
export class DnsLookupError extends HikyakuError {
  readonly dnsCode: string | undefined;
  readonly query: string;

  constructor(
    type: string,
    name: string,
    dnsCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      'HIKYAKU_DNS_LOOKUP_FAILED',
      `${type} lookup for ${name} failed: ${dnsCode ?? 'unknown error'}`,
      options,
    );
    this.name = 'DnsLookupError';
    this.dnsCode = dnsCode;
    this.query = `${type} ${name}`;
  }
}

export interface RoutingReply {
  code: number;
  enhanced: string;
  text: string;
}

export class RoutingError extends HikyakuError {
  readonly domain: string;
  readonly permanent: boolean;
  readonly reply: RoutingReply;

  constructor(
    code: string,
    domain: string,
    reply: Omit<RoutingReply, 'text'>,
    text: string,
    options?: { cause?: unknown },
  ) {
    super(code, text, options);
    this.name = 'RoutingError';
    this.domain = domain;
    this.permanent = reply.code >= 500;
    this.reply = { ...reply, text };
  }
}

/** The domain publishes a null MX (RFC 7505): it accepts no mail at all. */
export class NullMxError extends RoutingError {
  constructor(domain: string) {
    super(
      'HIKYAKU_NULL_MX',
      domain,
      { code: 556, enhanced: '5.1.10' },
      `recipient domain ${domain} has a null MX and accepts no mail`,
    );
    this.name = 'NullMxError';
  }
}

/** NXDOMAIN: the recipient domain does not exist. */
export class DomainNotFoundError extends RoutingError {
  constructor(domain: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_DOMAIN_NOT_FOUND',
      domain,
      { code: 550, enhanced: '5.1.2' },
      `recipient domain ${domain} does not exist`,
      options,
    );
    this.name = 'DomainNotFoundError';
  }
}

/**
 * The domain exists but nothing it names has an address: no MX host resolves, or there is
 * no MX and the domain itself has no A/AAAA record. DNS answered definitively, so retrying
 * only delays the bounce.
 */
export class NoMailHostError extends RoutingError {
  constructor(domain: string, detail: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_NO_MAIL_HOST',
      domain,
      { code: 550, enhanced: '5.4.4' },
      `no mail host for ${domain}: ${detail}`,
      options,
    );
    this.name = 'NoMailHostError';
  }
}

/**
 * The domain's mail hosts have addresses, but only of the other IP family than the source
 * address, which cannot reach them. When the pool has an address of that family, a later
 * attempt from it can deliver (the scheduler moves each retry to another IP), so the mail
 * is deferred; otherwise no IP of the pool ever will, and it bounces now.
 */
export class AddressFamilyError extends RoutingError {
  constructor(
    domain: string,
    detail: { hosts: readonly string[]; family: 4 | 6; poolHasOtherFamily: boolean },
  ) {
    const other = detail.family === 4 ? 6 : 4;
    const hosts = detail.hosts.join(', ');
    super(
      'HIKYAKU_NO_ADDRESS_OF_FAMILY',
      domain,
      detail.poolHasOtherFamily
        ? { code: 451, enhanced: '4.4.4' }
        : { code: 550, enhanced: '5.4.4' },
      detail.poolHasOtherFamily
        ? `mail hosts of ${domain} (${hosts}) have only IPv${other} addresses; an IPv${other} address of the pool will try`
        : `mail hosts of ${domain} (${hosts}) have only IPv${other} addresses and the pool has no IPv${other} address to send from`,
    );
    this.name = 'AddressFamilyError';
  }
}

/** SERVFAIL, REFUSED, timeout, unreachable server: DNS could not answer now. */
export class DnsTemporaryError extends RoutingError {
  /** The resolver's code (ESERVFAIL, ETIMEOUT, ...), for logs. */
  readonly dnsCode: string | undefined;

  constructor(domain: string, lookup: DnsLookupError) {
    super(
      'HIKYAKU_DNS_TEMPORARY',
      domain,
      { code: 451, enhanced: '4.4.3' },
      `DNS failure while routing ${domain}: ${lookup.message}`,
      { cause: lookup },
    );
    this.name = 'DnsTemporaryError';
    this.dnsCode = lookup.dnsCode;
  }
}

/**
 * A configured static route names a host that has no address. That is the operator's
 * mistake, not the recipient's, so the mail waits for the route to be fixed instead of
 * bouncing.
 */
export class RouteHostUnresolvedError extends RoutingError {
  constructor(domain: string, host: string, options?: { cause?: unknown }) {
    super(
      'HIKYAKU_ROUTE_HOST_UNRESOLVED',
      domain,
      { code: 451, enhanced: '4.4.4' },
      `static route for ${domain} names ${host}, which has no address`,
      options,
    );
    this.name = 'RouteHostUnresolvedError';
  }
}

export interface TargetFailure {
  target: { host: string; port: number; address: string };
  error: unknown;
}

/**
 * Every target of a route was tried and none took the mail. Temporary: the hosts may come
 * back. The sender may prefer to report the last host's own 4xx reply, found in `failures`.
 */
export class AllTargetsFailedError extends RoutingError {
  readonly failures: readonly TargetFailure[];

  constructor(domain: string, failures: readonly TargetFailure[]) {
    const last = failures.at(-1);
    super(
      'HIKYAKU_ALL_TARGETS_FAILED',
      domain,
      { code: 451, enhanced: '4.4.1' },
      failures.length === 0
        ? `no mail host of ${domain} could be tried`
        : `none of the ${failures.length} mail host address(es) of ${domain} took the mail`,
      last ? { cause: last.error } : undefined,
    );
    this.name = 'AllTargetsFailedError';
    this.failures = failures;
  }
}
