/**
 * Flag-set arithmetic every store backend applies the same way (RFC 3501 §6.4.6 STORE): what
 * +FLAGS, -FLAGS and FLAGS make of a message's flags, and whether two sets are equal.
 */
import type { FlagMode } from "./mail_store.ts";

/** The flags after a change of `mode` with `given`; order kept, no duplicates added. */
export function applyFlags(current: readonly string[], mode: FlagMode, given: string[]): string[] {
  if (mode === "replace") return given;
  if (mode === "add") return [...new Set([...current, ...given])];
  const drop = new Set(given);
  return current.filter((flag) => !drop.has(flag));
}

/** True when both hold the same flags, whatever their order. */
export function sameFlagSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(b);
  return a.every((flag) => set.has(flag));
}
