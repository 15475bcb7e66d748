export { DkimKeyError, DkimSignError } from './errors.ts';
export {
  domainOfAddress,
  type HeaderField,
  headerFields,
  headerSection,
  parseFromDomain,
} from './from-domain.ts';
export { createDkimKeyring, DKIM_RELOAD_INTERVAL_MS, type DkimKeyring } from './keyring.ts';
export {
  chooseSigningDomain,
  type DkimAlgorithm,
  type DkimKey,
  MIN_RSA_BITS,
  type PreparedKey,
  prepareKeys,
} from './keys.ts';
export {
  createDkimSigner,
  type DkimEnvelope,
  type DkimSigner,
  type DkimSignerOptions,
  SIGNED_HEADERS,
} from './signer.ts';
