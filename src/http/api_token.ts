/**
 * HTTP API tokens: `fsmtp_<id>_<secret>`, where the id (64 random bits, hex) names the token in
 * listings and revocations and the secret carries 256 random bits. The store keeps only the
 * SHA-256 of the whole token: with that much randomness a fast hash is enough (no password to
 * guess), and a stolen store yields no usable token.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiTokenRecord, ApiTokenStore } from "../store/api_tokens.ts";

const TOKEN = /^fsmtp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A token made now: the text to hand out once, and the record to store. */
export interface NewToken {
  token: string;
  record: ApiTokenRecord;
}

/** SHA-256 of the token's text. */
export async function hashToken(token: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
}

/** Makes a token for `address`. */
export async function newToken(address: string, now = Date.now()): Promise<NewToken> {
  const id = randomBytes(8).toString("hex");
  const token = `fsmtp_${id}_${randomBytes(32).toString("base64url")}`;
  return { token, record: { id, address, hash: await hashToken(token), createdAt: now } };
}

/** The id inside a token's text, or undefined when it is not shaped like one of ours. */
export function tokenId(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

/**
 * The stored token that `token` is, or undefined (malformed, unknown, revoked, or a wrong
 * secret). The hashes are compared in constant time, so the answer's timing tells nothing of
 * how much of a guessed secret was right.
 */
export async function verifyToken(
  store: ApiTokenStore,
  token: string,
): Promise<ApiTokenRecord | undefined> {
  const id = tokenId(token);
  if (id === undefined) return undefined;
  const record = await store.getToken(id);
  if (!record) return undefined;
  const hash = await hashToken(token);
  return record.hash.length === hash.length && timingSafeEqual(record.hash, hash)
    ? record
    : undefined;
}

/** Compares two secrets in constant time; only a difference in length shows in the timing. */
export function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
