/**
 * One server of `bench/smtp-layer.ts` in a process of its own, so its CPU time is its alone:
 * `smtp-layer-serve.ts KIND HOST PORT`, forked with an IPC channel. It says `{ready: port}`
 * once listening and answers `count` with `{messages}`.
 */
import {
  SMTP_LAYER_SERVERS,
  type SmtpLayerServer,
  startSmtpLayerServer,
} from './smtp-layer-servers.ts';

const [kind, host = '127.0.0.1', port = '0'] = process.argv.slice(2);
if (!SMTP_LAYER_SERVERS.includes(kind as SmtpLayerServer)) {
  console.error(`usage: smtp-layer-serve.ts ${SMTP_LAYER_SERVERS.join('|')} HOST PORT`);
  process.exit(2);
}
const server = await startSmtpLayerServer(kind as SmtpLayerServer, host, Number(port));
process.on('message', (message) => {
  if (message === 'count') process.send?.({ messages: server.messages() });
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
process.send?.({ ready: server.port });
