/**
 * The capture sink of local mode: a receiving SMTP server that writes every delivered
 * message to an .eml file, so a newcomer can see what the relay delivered.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SmtpSink, startSmtpSink } from '@hikyaku/testing';

export async function startCaptureSink(options: {
  host: string;
  port: number;
  dir: string;
  onSaved: (path: string, from: string, rcpts: string[], peer: string) => void;
}): Promise<SmtpSink> {
  mkdirSync(options.dir, { recursive: true });
  let n = 0;
  return startSmtpSink({
    host: options.host,
    port: options.port,
    name: 'capture.hikyaku.test',
    keep: false,
    async onMessage(message) {
      const stamp = new Date(message.receivedAt).toISOString().replace(/[:.]/g, '-');
      const path = join(options.dir, `${stamp}-${++n}.eml`);
      await writeFile(path, message.raw);
      options.onSaved(path, message.from, message.rcpts, message.peerAddress);
    },
  });
}
