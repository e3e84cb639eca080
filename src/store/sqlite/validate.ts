/**
 * Checks on what callers hand the store, made before anything is written so a bad argument
 * fails as `StoreError("invalid")` with a reason, not as a constraint error from SQLite.
 */
import { type Delivery, type KeyWrap, StoreError } from "../mail_store.ts";

/** Throws unless `keyWrap` is a known way of wrapping a content key. */
export function checkKeyWrap(keyWrap: string): asserts keyWrap is KeyWrap {
  if (keyWrap !== "rsa" && keyWrap !== "sym") {
    throw new StoreError(`unknown key wrap "${keyWrap}"`, "invalid");
  }
}

/**
 * The flags without duplicates, in the order given. A flag is an IMAP atom (RFC 3501 §9,
 * `flag`), so it is never empty and holds no space or control character; that is what lets the
 * store keep a message's flags as one space-joined column.
 */
export function normaliseFlags(flags: readonly string[]): string[] {
  for (const flag of flags) {
    // deno-lint-ignore no-control-regex -- control characters are exactly what is refused.
    if (flag === "" || /[\x00-\x20\x7f]/.test(flag)) {
      throw new StoreError(`invalid flag ${JSON.stringify(flag)}`, "invalid");
    }
  }
  return [...new Set(flags)];
}

/** Throws `StoreError("invalid")` when the delivery could never be stored. */
export function checkDelivery(delivery: Delivery): void {
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
    if (item.mailbox === "") throw new StoreError("a mailbox name must not be empty", "invalid");
    normaliseFlags(item.flags ?? []);
  }
}
