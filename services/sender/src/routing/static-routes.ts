/**
 * Static routes: destinations whose next hop is configured rather than looked up in MX
 * (an internal domain, a partner's gateway, or "*" for a smarthost that takes everything).
 */
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

/** Splits "host:port", "[v6]:port", "[v6]", a bare IPv6 address or a bare host. */
export function splitHostPort(hostPort: string): { host: string; port?: number } {
  const text = hostPort.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    const host = bracketed[1] as string;
    return bracketed[2] === undefined ? { host } : { host, port: Number(bracketed[2]) };
  }
  const parts = text.split(':');
  // More than one colon without brackets can only be an IPv6 address with no port.
  if (parts.length === 2 && /^\d+$/.test(parts[1] as string)) {
    return { host: parts[0] as string, port: Number(parts[1]) };
  }
  return { host: text };
}

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
