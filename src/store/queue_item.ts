/**
 * Checks on a message handed to a queue store, the same for every backend, made before
 * anything is written so a bad item fails as `StoreError("invalid")` with a reason.
 */
import type { EnqueueItem, Notify, NotifyCondition } from "../queue/types.ts";
import { StoreError } from "./mail_store.ts";

/** The DSN conditions NOTIFY may list (RFC 3461 §4.1). */
export const NOTIFY_CONDITIONS: readonly NotifyCondition[] = ["SUCCESS", "FAILURE", "DELAY"];

/** Checks an item; returns its id, made (16 hex digits, 64 random bits) when absent. */
export function checkQueueItem(item: EnqueueItem): string {
  const invalid = (why: string) => new StoreError(why, "invalid");
  const id = item.id ?? newQueueId();
  if (!/^[\x21-\x7e]{1,64}$/.test(id) || id === "all") {
    throw invalid(`invalid queue id ${JSON.stringify(id)}`);
  }
  if (item.recipients.length === 0) throw invalid("a queued message needs a recipient");
  if (!Number.isSafeInteger(item.arrivedAt)) {
    throw invalid(`invalid arrival time ${item.arrivedAt}`);
  }
  if (item.ret !== undefined && item.ret !== "FULL" && item.ret !== "HDRS") {
    throw invalid(`invalid RET ${item.ret}`);
  }
  const seen = new Set<string>();
  for (const r of item.recipients) {
    const at = r.address.lastIndexOf("@");
    if (at < 1 || at === r.address.length - 1) {
      throw invalid(`recipient ${JSON.stringify(r.address)} has no domain`);
    }
    if (seen.has(r.address)) throw invalid(`recipient ${r.address} is given twice`);
    seen.add(r.address);
    if (r.notify !== undefined) checkNotify(r.notify);
  }
  return id;
}

/** Throws unless NOTIFY is "NEVER" or a non-empty list of known conditions (RFC 3461 §4.1). */
export function checkNotify(notify: Notify): void {
  if (notify === "NEVER") return;
  if (notify.length === 0 || notify.some((c) => !NOTIFY_CONDITIONS.includes(c))) {
    throw new StoreError(`invalid NOTIFY ${JSON.stringify(notify)}`, "invalid");
  }
}

function newQueueId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("").toUpperCase();
}
