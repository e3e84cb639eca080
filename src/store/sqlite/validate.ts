/**
 * Checks on what callers hand the store, made before anything is written so a bad argument
 * fails as `StoreError("invalid")` with a reason, not as a constraint error from SQLite.
 */
import type { KeyWrap } from "../../crypto/message_seal.ts";
import {
  type Delivery,
  MAILBOX_DELIMITER,
  SPECIAL_USES,
  type SpecialUse,
  StoreError,
} from "../mail_store.ts";

/** Throws unless `keyWrap` is a known way of wrapping a content key. */
export function checkKeyWrap(keyWrap: string): asserts keyWrap is KeyWrap {
  if (keyWrap !== "rsa" && keyWrap !== "sym") {
    throw new StoreError(`unknown key wrap "${keyWrap}"`, "invalid");
  }
}

/** Throws unless `use` is one of the special uses of RFC 6154 §2 the store records. */
export function checkSpecialUse(use: string | undefined): void {
  if (use !== undefined && !SPECIAL_USES.includes(use as SpecialUse)) {
    throw new StoreError(`unknown special use ${JSON.stringify(use)}`, "invalid");
  }
}

/** The system flags (RFC 3501 §2.3.2) by lower-cased name, in their canonical spelling. */
const SYSTEM_FLAGS = new Map(
  ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"].map((f) => [f.toLowerCase(), f]),
);

/**
 * The flags without duplicates, in the order given, system flags in their canonical case (a
 * client may send `\seen`; STATUS counts and searches look for `\Seen`). A flag is an IMAP atom
 * (RFC 3501 §9, `flag`), so it is never empty and holds no space or control character; that is
 * what lets the store keep a message's flags as one space-joined column.
 */
export function normaliseFlags(flags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const flag of flags) {
    // deno-lint-ignore no-control-regex -- control characters are exactly what is refused.
    if (flag === "" || /[\x00-\x20\x7f]/.test(flag)) {
      throw new StoreError(`invalid flag ${JSON.stringify(flag)}`, "invalid");
    }
    out.add(SYSTEM_FLAGS.get(flag.toLowerCase()) ?? flag);
  }
  return [...out];
}

/**
 * The mailbox name as stored: "INBOX" in any case is INBOX (RFC 3501 §5.1). Throws
 * `StoreError("invalid")` for a name that is empty, has an empty level ("a//b", "/a", "a/"), or
 * holds a control character.
 */
export function mailboxName(name: string): string {
  if (name.toUpperCase() === "INBOX") return "INBOX";
  const levels = name.split(MAILBOX_DELIMITER);
  // deno-lint-ignore no-control-regex -- control characters are exactly what is refused.
  if (levels.some((level) => level === "") || /[\x00-\x1f\x7f]/.test(name)) {
    throw new StoreError(`invalid mailbox name ${JSON.stringify(name)}`, "invalid");
  }
  return name;
}

/** Throws `StoreError("invalid")` when the delivery could never be stored. */
export function checkDelivery(delivery: Delivery): void {
  if (typeof delivery.id !== "string" || delivery.id === "") {
    throw new StoreError("a delivery needs an id", "invalid");
  }
  if (delivery.items.length === 0) {
    throw new StoreError("a delivery needs at least one recipient", "invalid");
  }
  if (!Number.isSafeInteger(delivery.size) || delivery.size < 0) {
    throw new StoreError(`invalid message size ${delivery.size}`, "invalid");
  }
  if (!Number.isSafeInteger(delivery.internalDate)) {
    throw new StoreError(`invalid internal date ${delivery.internalDate}`, "invalid");
  }
  for (const item of delivery.items) {
    checkKeyWrap(item.keyWrap);
    mailboxName(item.mailbox);
    normaliseFlags(item.flags ?? []);
  }
}

/**
 * The UIDs as a set, ascending. A value that can be no UID (zero, negative, fractional) names no
 * message, so it is left out like a UID that does not exist.
 */
export function uidSet(uids: readonly number[]): number[] {
  return [...new Set(uids.filter((uid) => Number.isSafeInteger(uid) && uid >= 1))]
    .sort((a, b) => a - b);
}
