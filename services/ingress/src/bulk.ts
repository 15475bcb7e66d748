/**
 * Whether a message is bulk mail: it carries List-Unsubscribe (RFC 2369, what Gmail and
 * Yahoo require of bulk senders) or Precedence: bulk, list or junk. Bulk mail is what the
 * complaint guard holds back when a sender domain's complaint rate is over its stop line;
 * transactional mail of the same domain keeps flowing.
 */
import { headerSection, type MessageOrHeader } from './headers.ts';

export function isBulkMail(message: MessageOrHeader): boolean {
  const header = typeof message === 'string' ? message : headerSection(message);
  return (
    /^list-unsubscribe[ \t]*:/im.test(header) ||
    /^precedence[ \t]*:[ \t]*(bulk|list|junk)\b/im.test(header)
  );
}
