/** The one error type `src/crypto/` throws for bad data, so callers can tell it from a bug. */

/**
 * Why sealed data could not be used:
 * - `corrupt`: stored key material is malformed (bad JSON, wrong lengths, a wrap that does not
 *   open although the password was verified). An operator problem, never a wrong password.
 * - `tampered`: a sealed message or wrapped content key failed AES-GCM / RSA-OAEP
 *   authentication: it was altered, truncated, or belongs to another user.
 * - `unsupported`: key material written by a newer format version than this build reads.
 */
export type CryptoErrorCode = "corrupt" | "tampered" | "unsupported";

/** Thrown on unusable sealed data. A wrong password or recovery key is not an error. */
export class CryptoError extends Error {
  /** Creates an error; `cause` keeps the underlying WebCrypto error for logs. */
  constructor(message: string, readonly code: CryptoErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CryptoError";
  }
}
