/**
 * Feedback by mail: the relay's own return path (token.ts), reading the reports that come
 * back to it (report.ts) and what they mean for the pool (attribute.ts).
 */
export {
  type AttributionInput,
  attributeFeedback,
  type FeedbackReply,
  type FeedbackVerdict,
} from './attribute.ts';
export {
  type FeedbackFormat,
  type ParsedComplaint,
  type ParsedFeedback,
  parseFeedback,
  type ReportedRecipient,
} from './report.ts';
export { returnPathFor, senderDomain, usesReturnPath } from './return-path.ts';
export {
  deriveReturnPathKey,
  parseReturnPath,
  RETURN_PATH_PREFIX,
  type ReturnPathInput,
  type ReturnPathToken,
  returnPathAddress,
  verifyReturnPath,
} from './token.ts';
