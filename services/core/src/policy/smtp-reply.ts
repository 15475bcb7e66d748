/**
 * Reading an SMTP reply the way a classifier needs it: the reply code, the enhanced status
 * code (RFC 3463) and the human text as one line. Servers spread a reply over several
 * lines, each repeating the code ("550-5.1.1 The email account ...\r\n550 5.1.1 ..."),
 * and some put the enhanced code only in the text; matching rules against the joined,
 * prefix-free text keeps the rules short and independent of line breaks.
 */

export interface ParsedSmtpReply {
  /** Three-digit reply code, when the text carried one. */
  code?: number;
  /** Enhanced status code ("5.1.1"), when the text carried one. */
  enhancedCode?: string;
  /** The text without code prefixes, lines joined by single spaces. */
  text: string;
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;
const LINE_PREFIX = /^(\d{3})(?:[ -]|$)/;
const LEADING_ENHANCED = /^#?([245]\.\d{1,3}\.\d{1,3})(?=$|[\s,;:)\]])/;
// qmail and some appliances put it in the middle: "... no mailbox here by that name. (#5.1.1)".
const EMBEDDED_ENHANCED = /(?:^|[\s(])#([245]\.\d{1,3}\.\d{1,3})\b/;

/** Whether a string is an RFC 3463 enhanced status code (class 2, 4 or 5). */
export function isEnhancedCode(value: string): boolean {
  return ENHANCED.test(value);
}

/** Splits a raw reply (one or many lines, with or without code prefixes) into its parts. */
export function parseSmtpReply(raw: string): ParsedSmtpReply {
  let code: number | undefined;
  let enhancedCode: string | undefined;
  const parts: string[] = [];
  for (const rawLine of raw.split(/\r?\n/)) {
    let line = rawLine.trim();
    const prefix = LINE_PREFIX.exec(line);
    if (prefix !== null) {
      code ??= Number(prefix[1]);
      line = line.slice(prefix[0].length).trim();
    }
    const leading = LEADING_ENHANCED.exec(line);
    if (leading !== null) {
      enhancedCode ??= leading[1];
      line = line.slice(leading[0].length).trim();
    }
    if (line.length > 0) parts.push(line);
  }
  const text = parts.join(' ').replace(/\s+/g, ' ');
  enhancedCode ??= EMBEDDED_ENHANCED.exec(text)?.[1];
  const parsed: ParsedSmtpReply = { text };
  if (code !== undefined) parsed.code = code;
  if (enhancedCode !== undefined) parsed.enhancedCode = enhancedCode;
  return parsed;
}

/**
 * Whether an enhanced status code fits a pattern of three dot-separated parts, each a
 * number or "*": "5.1.1", "*.2.2" (either class), "5.7.*" (any 5.7 detail). Numbers
 * compare as numbers, so "5.7.026" fits "5.7.26".
 */
export function enhancedCodeMatches(pattern: string, code: string): boolean {
  const want = pattern.split('.');
  const have = code.split('.');
  if (want.length !== 3 || have.length !== 3) return false;
  return want.every((part, i) => part === '*' || Number(part) === Number(have[i]));
}
