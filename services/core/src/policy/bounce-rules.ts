/**
 * The bounce classifier's knowledge, as data: an ordered table of rules, first match wins.
 * Each rule names a category; what to do about it (bounce, retry, slow down) is derived
 * from the category and the reply class in bounce-classifier.ts, so a rule never has to
 * decide that and the table stays a list of facts about what servers say.
 *
 * Categories (small on purpose; the rule name carries the detail for logs):
 *   hard             the recipient address is dead: unknown user, no such domain, null MX,
 *                    mailbox disabled. The only category that suppresses the address.
 *   mailbox-full     the mailbox exists but is over quota.
 *   message-too-big  this message exceeds a size limit; it will not shrink by retrying.
 *   auth             the receiver could not authenticate the sender: SPF, DKIM, DMARC,
 *                    reverse DNS of the sending IP, SMTP AUTH to a smarthost.
 *   block            the sending IP or domain is refused: block lists, reputation, bans,
 *                    Yahoo's TSS09/TSS11. About us, not the recipient or the message.
 *   content          this message was judged: spam, phishing, virus, content filters.
 *   routing          the receiver is the wrong place for this mail: relay denied, mail
 *                    loops, hop counts, unroutable destinations.
 *   policy           refused by any other policy of the receiver: sender address refused,
 *                    allowed-senders lists, "policy reasons".
 *   throttled        the receiver asks us to slow down (rate limits, too many messages
 *                    or recipients, "try again later" with 421 or 4.7.x, Yahoo TSS0x,
 *                    Gmail 4.7.28, Outlook 4.7.650, docomo "552 too many recipients").
 *   connections      the receiver refuses another connection from this IP ("too many
 *                    connections"): fewer connections, not a lower rate.
 *   recipient-rate   one mailbox receives mail too fast (Gmail 4.2.1): only that
 *                    recipient waits; the destination is not slowed.
 *   protocol         the SMTP conversation itself failed: syntax, sequence, line length,
 *                    STARTTLS required.
 *   connection       no usable reply at all: refused, reset, timed out, TLS broke, or an
 *                    enhanced code of the network class (x.4.1, x.4.2).
 *   soft             any other temporary failure (greylisting, 4.3.x system trouble).
 *   rejected         any other permanent failure the table does not recognise.
 *
 * Order matters and is part of the design: one busy mailbox and connection limits before
 * any rate rule (their text speaks of rates too); throttling next (Gmail's rate-limit reply
 * talks about "unsolicited mail", which must not read as a spam block); connection
 * failures next (so a socket error never becomes a hard bounce); replies about our
 * sender address before replies about the recipient (Exim's "Unrouteable address ...
 * Sender verify failed" is about us); authentication and policy text before generic
 * recipient text; enhanced codes after text, because servers reuse 5.7.1 and 5.1.1 for
 * things their text makes plain.
 */

export const BOUNCE_CATEGORIES = [
  'hard',
  'mailbox-full',
  'message-too-big',
  'auth',
  'block',
  'content',
  'routing',
  'policy',
  'throttled',
  'connections',
  'recipient-rate',
  'protocol',
  'connection',
  'soft',
  'rejected',
] as const;

export type BounceCategory = (typeof BOUNCE_CATEGORIES)[number];

export interface BounceRule {
  /** Stable name, reported with the classification (logs, events). */
  readonly name: string;
  readonly category: BounceCategory;
  /** Reply codes the rule applies to (421, 552); absent: any. */
  readonly codes?: readonly number[];
  /** Reply class the rule applies to; absent: either. */
  readonly replyClass?: 4 | 5;
  /** Enhanced status code patterns ("5.1.1", "*.2.2", "5.7.*"); absent: any. */
  readonly enhanced?: readonly string[];
  /** Tested against the joined reply text (for connection failures: error code, then text). */
  readonly text?: RegExp;
  /** true: only failures that got no SMTP reply at all (connection-level errors). */
  readonly connection?: true;
}

const RATE_LIMIT_TEXT = new RegExp(
  [
    'rate.?limit',
    'too many (?:messages|mails?|emails|connections|concurrent|simultaneous|sessions|smtp sessions|recipients|rcpt|requests)',
    'too much mail from',
    'excessive (?:volume|number|rate)',
    '(?:unexpected|unusual|high) volume',
    '(?:sending|receiving) mail too quickly|too (?:fast|quickly)',
    'receiving mail at a rate',
    '(?:try again|send(?:ing)?|please send) (?:more )?slow(?:er|ly)',
    'slow down',
    'throttl',
    'exceeded the (?:max(?:imum)? )?(?:rate|number of (?:messages|connections|recipients))',
    'max(?:imum)? (?:number of )?(?:messages?|connections|recipients) (?:per|reached|exceeded)',
    'limits? for how many messages',
    'sender rate overlimit',
  ].join('|'),
  'i',
);

export const DEFAULT_BOUNCE_RULES: readonly BounceRule[] = [
  // Greylisting clears by itself on the next attempt: slowing the destination down for it
  // would punish a server for working as designed.
  { name: 'greylisted', category: 'soft', replyClass: 4, text: /gr[ae]y-?list/i },

  {
    name: 'recipient-receiving-too-fast',
    category: 'recipient-rate',
    text: /(?:user|recipient|mailbox|account)\b[^.]{0,60}\breceiving (?:mail|messages|e-?mails?) (?:too (?:fast|quickly)|at a rate)|(?:recipient|mailbox) (?:is )?(?:rate.?limited|receiving too many)|too many (?:messages|mails?) (?:for|to) (?:this|the) (?:user|recipient|mailbox)|per.?recipient (?:rate|limit)/i,
  },
  {
    name: 'recipient-rate-code',
    category: 'recipient-rate',
    replyClass: 4,
    enhanced: ['4.2.1'],
    text: RATE_LIMIT_TEXT,
  },
  {
    name: 'too-many-connections',
    category: 'connections',
    text: /too many (?:concurrent |simultaneous |parallel |open )?(?:smtp )?(?:connections|sessions)|(?:sessions|connections) (?:are |were )?opened|(?:concurrent |simultaneous )?connection (?:limit|count) (?:exceeded|reached)|max(?:imum)? (?:number of )?(?:concurrent |simultaneous )?(?:server )?connections|connection rate limit|trop de connexions/i,
  },

  // Yahoo/AOL: TS01-TS03 and TSS04 are volume deferrals; TSS09/TSS11 are blocks.
  { name: 'yahoo-permanently-deferred', category: 'block', text: /will be permanently deferred/i },
  {
    name: 'yahoo-volume-deferral',
    category: 'throttled',
    text: /\[TSS?0[1-4]\]|temporarily deferred due to (?:unexpected volume|user complaints)/i,
  },
  { name: 'gmail-rate-limited', category: 'throttled', enhanced: ['4.7.28'] },
  { name: 'unusual-rate', category: 'throttled', text: /unusual rate of unsolicited mail/i },
  { name: 'outlook-ip-rate-limited', category: 'throttled', enhanced: ['4.7.650'] },
  { name: 'rate-limit', category: 'throttled', text: RATE_LIMIT_TEXT },
  {
    name: 'policy-try-again-later',
    category: 'throttled',
    replyClass: 4,
    enhanced: ['4.7.*'],
    text: /try again later|retry later|come back later/i,
  },
  {
    name: 'closing-try-again-later',
    category: 'throttled',
    codes: [421],
    text: /try (?:again )?later|retry later|busy/i,
  },

  { name: 'connection-error', category: 'connection', connection: true },

  { name: 'sender-address-code', category: 'policy', enhanced: ['*.1.7', '*.1.8'] },
  {
    name: 'sender-address-text',
    category: 'policy',
    text: /sender address rejected|domain of sender address|sender verify failed|verification failed for|unresolvable (?:rfc\.?5321 )?(?:from )?domain/i,
  },

  // Exchange Online's directory-based edge blocking says "Access denied" for a recipient
  // that does not exist; it must not fall into the policy rules below.
  {
    name: 'office365-recipient-not-found',
    category: 'hard',
    text: /RecipientNotFound|recipient address rejected: access denied/i,
  },

  {
    name: 'auth-code',
    category: 'auth',
    enhanced: ['*.7.8', '*.7.20', '*.7.21', '*.7.22', '*.7.23', '*.7.24', '*.7.25', '*.7.26'],
  },
  { name: 'outlook-auth-code', category: 'auth', enhanced: ['5.7.509', '5.7.515'] },
  {
    name: 'auth-text',
    category: 'auth',
    text: /\bDMARC\b|\bSPF\b|\bDKIM\b|unauthenticated|authentication (?:required|failed|checks|level)|authenticate with|credentials invalid|reverse (?:DNS|lookup)|\bPTR\b|cannot find your (?:reverse )?hostname/i,
  },

  {
    name: 'block-list',
    category: 'block',
    text: /spamhaus|spamcop|barracuda|block ?list|black ?list|deny ?list|\bRBL\b|DNSBL|blocked using|listed (?:at|in|on|by)|\(S3150\)|\[BL\d+\]|banned sending ip|banned sender|ipcheck\.proofpoint/i,
  },
  {
    name: 'reputation',
    category: 'block',
    text: /reputation|banned|(?:ip|sender|address|host|domain) (?:\S+ )?(?:is |has been |was )?(?:temporarily |permanently )?(?:blocked|blacklisted|rejected due to)|traffic not accepted from this ip|not accepting (?:mail|messages|connections) from|envelope blocked/i,
  },
  {
    name: 'routing-text',
    category: 'routing',
    text: /relay(?:ing)? (?:access )?denied|unable to relay|relay not permitted|open relay not allowed|mail loop|loops back to myself|hop count exceeded|too many hops|no route to (?:host|domain)/i,
  },
  {
    name: 'content-text',
    category: 'content',
    text: /\bspam\b|unsolicited|virus|malware|phish|\bcontent\b|suspicious|attachment|\[PH\d+\]|\[CS\d+\]|message (?:was )?(?:rejected|refused) as/i,
  },
  {
    name: 'policy-text',
    category: 'policy',
    text: /prohibit|policy|\bdenied\b|\bblocked\b|will not accept|not allowed/i,
  },

  {
    name: 'mailbox-full-text',
    category: 'mailbox-full',
    text: /mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceeded (?:its |the |their )?(?:storage|quota)|insufficient (?:disk )?(?:space|storage) (?:for|in) (?:the )?(?:user|mailbox)|too much mail data|QuotaExceeded|mailbox size limit/i,
  },
  {
    name: 'message-too-big-text',
    category: 'message-too-big',
    text: /message (?:size )?(?:exceeds|is too (?:big|large)|too (?:big|large))|size (?:exceeds|limit exceeded)|exceeds? (?:the )?(?:fixed |maximum |max )*(?:message )?size|message length exceeds|too big for system/i,
  },

  {
    name: 'unknown-user',
    category: 'hard',
    text: /user unknown|unknown user|unknown (?:recipient|mailbox|local.?part|address)|no such (?:user|mailbox|recipient|address|account)|(?:user|recipient|mailbox|address|account) (?:not found|does ?n[o']t exist|not exist|unknown|invalid|not valid|is disabled|disabled|is no longer (?:valid|active|available))|invalid (?:recipient|mailbox|address|user)|account (?:that you tried to reach )?(?:does not exist|is disabled|has been disabled|is inactive)|doesn't have an? \S+ account|not a valid (?:mailbox|recipient|user)|inactive (?:email )?address|unknown or illegal alias|is no longer valid|no mailbox here|unrouteable address|recipient no longer on server|mailbox unavailable|this mailbox is disabled/i,
  },
  {
    name: 'bad-domain-text',
    category: 'hard',
    text: /host or domain name not found|domain (?:not found|does not exist)|no such domain|null MX|does not accept mail/i,
  },

  { name: 'bad-mailbox-code', category: 'hard', enhanced: ['*.1.1', '*.1.3', '*.1.6', '*.2.1'] },
  { name: 'bad-domain-code', category: 'hard', enhanced: ['*.1.2', '*.1.10'] },
  { name: 'mailbox-full-code', category: 'mailbox-full', enhanced: ['*.2.2'] },
  { name: 'message-too-big-code', category: 'message-too-big', enhanced: ['*.3.4', '*.2.3'] },

  {
    name: 'protocol-text',
    category: 'protocol',
    text: /line too long|syntax error|bad sequence of commands|command (?:not recognized|unrecognized|not implemented)|must issue a STARTTLS|TLS required/i,
  },
  { name: 'protocol-code', category: 'protocol', codes: [500, 501, 502, 503, 504, 555] },
  { name: 'protocol-enhanced', category: 'protocol', enhanced: ['*.5.*'] },
  { name: 'routing-code', category: 'routing', enhanced: ['*.4.3', '*.4.4', '*.4.6', '*.4.14'] },
  { name: 'policy-code', category: 'policy', enhanced: ['*.7.*'] },
  { name: 'network-code', category: 'connection', enhanced: ['*.4.1', '*.4.2'] },

  { name: 'temporary', category: 'soft', replyClass: 4 },
  { name: 'permanent', category: 'rejected', replyClass: 5 },
];
