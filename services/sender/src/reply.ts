/** Splitting an SMTP reply into code, enhanced status code and text. */
export interface ParsedReply {
  code: number;
  enhanced?: string;
  text: string;
}

export function parseReply(response: string | undefined, fallbackCode: number): ParsedReply {
  const text = (response ?? '').trim();
  const match = /^(\d{3})[ -]?(?:([245]\.\d{1,3}\.\d{1,3})\b)?/.exec(text);
  const code = match ? Number(match[1]) : fallbackCode;
  const enhanced = match?.[2];
  return { code, ...(enhanced ? { enhanced } : {}), text: text || `${fallbackCode}` };
}

/** The remote queue id from a "250 2.0.0 Ok: queued as ABC123" style reply. */
export function remoteQueueId(response: string | undefined): string | undefined {
  const m = /queued as ([\w.-]+)|id=([\w.-]+)|<([^>]+)>\s*(?:queued|accepted)/i.exec(
    response ?? '',
  );
  return m?.[1] ?? m?.[2] ?? m?.[3];
}
