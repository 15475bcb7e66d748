export {
  type Clock,
  createDnsCache,
  DNS_CACHE_DEFAULTS,
  type DnsCacheOptions,
} from './dns-cache.ts';
export {
  createDnsClient,
  DNS_CLIENT_DEFAULTS,
  type DnsAnswer,
  type DnsClient,
  type DnsClientOptions,
} from './dns-client.ts';
export { addressLiteral, normaliseDomain } from './domain.ts';
export {
  AddressFamilyError,
  AllTargetsFailedError,
  DnsLookupError,
  DnsTemporaryError,
  DomainNotFoundError,
  NoMailHostError,
  NullMxError,
  RouteHostUnresolvedError,
  RoutingError,
  type RoutingReply,
  type TargetFailure,
} from './errors.ts';
export { isNullMx, type MxHost, type MxRecord, orderMx, type Rng } from './mx-order.ts';
export {
  type Candidate,
  createMxResolver,
  MX_RESOLVER_DEFAULTS,
  type MxResolver,
  type MxResolverOptions,
  type MxResolverWithClient,
  type MxResolverWithServers,
  type ResolveOptions,
  type Route,
  type RouteSource,
} from './resolver.ts';
export {
  type NextHop,
  routeFromStatic,
  SMTP_PORT,
  type StaticRoute,
  splitHostPort,
} from './static-routes.ts';
export { type Target, type TryTargetsOptions, targetsOf, tryTargets } from './targets.ts';
