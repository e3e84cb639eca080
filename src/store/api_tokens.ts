/**
 * The ApiTokenStore port: HTTP API tokens (`fsmtp --token ADDRESS`), kept in the primary store
 * so every node of a cluster accepts a token made on any of them.
 *
 * Only a hash of each token is stored (SHA-256 of 256 random bits: no dictionary to guess
 * from, so no slow KDF is needed); the token itself is printed once and never kept. A token
 * is looked up by its public id and its hash compared in constant time (src/http/tokens.ts).
 *
 * Implementations: `src/store/sqlite/sqlite_api_tokens.ts`,
 * `src/store/cassandra/cassandra_api_tokens.ts`; they pass
 * `tests/contract/api_token_store_contract.ts`.
 */

/** One token as stored. */
export interface ApiTokenRecord {
  /** The public part of the token, unique: how it is named when listed and revoked. */
  id: string;
  /** The user it sends as (lower-cased `local@domain`). */
  address: string;
  /** SHA-256 of the whole token. */
  hash: Uint8Array;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** The port. */
export interface ApiTokenStore {
  /** Stores a new token; throws `StoreError("exists")` for an id in use. */
  addToken(token: ApiTokenRecord): Promise<void>;
  /** The token with this id, or undefined (never made, or revoked). */
  getToken(id: string): Promise<ApiTokenRecord | undefined>;
  /** The user's tokens, oldest first. */
  listTokens(address: string): Promise<ApiTokenRecord[]>;
  /** Revokes the user's token `id`; false when the user has no such token. */
  revokeToken(address: string, id: string): Promise<boolean>;
}
