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
