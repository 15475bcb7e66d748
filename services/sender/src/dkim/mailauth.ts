/**
 * The part of mailauth's DKIM API hikyaku uses, typed here because mailauth ships no type
 * declarations. mailauth rather than nodemailer's built-in signer: nodemailer signs with RSA
 * only, mailauth with RSA and Ed25519 (RFC 8463).
 */
import { createRequire } from 'node:module';

export interface DkimSignatureData {
  signingDomain: string;
  selector: string;
  /** PEM. */
  privateKey: string | Buffer;
  algorithm?: 'rsa-sha256' | 'ed25519-sha256';
  canonicalization?: string;
}

export interface DkimSignOptions {
  canonicalization?: string;
  /** Becomes the t= tag. */
  signTime?: Date;
  /** Header field names joined by ":"; only the ones present in the message are signed. */
  headerList?: string;
  signatureData: DkimSignatureData[];
}

export interface DkimSignResult {
  /** DKIM-Signature header fields, each ending with CRLF. */
  signatures: string;
  errors: Array<{ err: Error; selector?: string; signingDomain?: string }>;
}

/** Answers a TXT query like `dns.promises.resolve(name, 'TXT')`: records of string chunks. */
export type TxtResolver = (name: string, type: string) => Promise<string[][]>;

export interface DkimVerifyResult {
  results: Array<{
    signingDomain?: string;
    selector?: string;
    algo?: string;
    status: { result: string; comment?: string };
    info?: string;
  }>;
}

interface MailauthDkim {
  dkimSign(input: Buffer | string, options: DkimSignOptions): Promise<DkimSignResult>;
  dkimVerify(
    input: Buffer | string,
    options?: { resolver?: TxtResolver; curTime?: Date },
  ): Promise<DkimVerifyResult>;
}

const load = createRequire(import.meta.url);

// Loaded on first use (require caches it), so that the sender never loads the verifier.
export function dkimSign(
  input: Buffer | string,
  options: DkimSignOptions,
): Promise<DkimSignResult> {
  return (load('mailauth/lib/dkim/sign') as Pick<MailauthDkim, 'dkimSign'>).dkimSign(
    input,
    options,
  );
}

/** For tests and tools that check what the sender signed. */
export function dkimVerify(
  input: Buffer | string,
  options?: { resolver?: TxtResolver; curTime?: Date },
): Promise<DkimVerifyResult> {
  return (load('mailauth/lib/dkim/verify') as Pick<MailauthDkim, 'dkimVerify'>).dkimVerify(
    input,
    options,
  );
}
