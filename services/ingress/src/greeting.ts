/**
 * How long a client waits for the greeting. Commands sent before it are answered 421, which
 * stops bots that talk without listening; Postfix' postscreen does the same on port 25.
 * A client that may relay (inside a pool's allowedNetworks) and every client of the
 * submission listeners (which must authenticate before anything is relayed) gain nothing
 * from the pause and would pay it on every connection: an application that opens one
 * connection per message would be held to a few messages per session per second.
 */
import type { ListenerName } from './config.ts';

export function greetingPause(client: {
  listener: ListenerName;
  /** Inside some pool's allowedNetworks. */
  trusted: boolean;
  earlyTalkerPauseMs: number;
}): number {
  if (client.listener !== 'relay' || client.trusted) return 0;
  return client.earlyTalkerPauseMs;
}
