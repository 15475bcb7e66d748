/** The Received: trace header (RFC 5321 §4.4) the relay prepends; the body is never rewritten. */
export function receivedHeader(options: {
  clientHelo: string;
  clientAddress: string;
  hostname: string;
  queueId: string;
  secure: boolean;
  tls?: { version?: string; cipher?: string };
  rcptCount: number;
  firstRcpt?: string;
  now: Date;
}): string {
  const withProto = options.secure ? 'ESMTPS' : 'ESMTP';
  const tls =
    options.secure && options.tls
      ? ` (using ${options.tls.version ?? 'TLS'} with cipher ${options.tls.cipher ?? 'unknown'})`
      : '';
  const forClause =
    options.rcptCount === 1 && options.firstRcpt ? `\r\n\tfor <${options.firstRcpt}>` : '';
  return (
    `Received: from ${options.clientHelo || 'unknown'} ([${options.clientAddress}])\r\n` +
    `\tby ${options.hostname} (hikyaku) with ${withProto}${tls} id ${options.queueId}${forClause};\r\n` +
    `\t${options.now.toUTCString().replace('GMT', '+0000')}\r\n`
  );
}
