/**
 * Static routes: destinations whose next hop is configured rather than looked up in MX
 * (an internal domain, a partner's gateway, or "*" for a smarthost that takes everything).
 */
import { splitHostPort } from '@hikyaku/core';
import { normaliseDomain } from './domain.ts';

/** Structurally both the RelayPool's RouteSpec and the compiled pool's route. */
export interface StaticRoute {
  /** Destination domains; "*" alone matches every domain. */
  domains: readonly string[];
  /** host, host:port, or [ipv6]:port. */
  host: string;
  /** Wins over a port written in `host`, as the pool compiler does. */
  port?: number;
}

export interface NextHop {
  host: string;
  port: number;
}

export const SMTP_PORT = 25;
const WILDCARD = '*';

export { splitHostPort };

function toNextHop(route: StaticRoute): NextHop {
  const { host, port } = splitHostPort(route.host);
  return { host: host.replace(/\.$/, '').toLowerCase(), port: route.port ?? port ?? SMTP_PORT };
}

/**
 * The next hop configured for a destination domain, or undefined when mail for it goes by
 * MX. A route naming the domain itself beats the "*" smarthost wherever either appears;
 * among routes naming the same domain the first one wins.
 */
export function routeFromStatic(
  routes: readonly StaticRoute[] | undefined,
  domain: string,
): NextHop | undefined {
  if (!routes || routes.length === 0) return undefined;
  const wanted = normaliseDomain(domain);
  let smarthost: StaticRoute | undefined;
  for (const route of routes) {
    for (const entry of route.domains) {
      if (entry.trim() === WILDCARD) {
        smarthost ??= route;
      } else if (wanted !== '' && normaliseDomain(entry) === wanted) {
        return toNextHop(route);
      }
    }
  }
  return smarthost ? toNextHop(smarthost) : undefined;
}
