/**
 * A session's view of its selected mailbox (RFC 3501 §2.3.1.2, RFC 9051 §2.3.1.2): the
 * message sequence numbers it has told the client, each message's flags and modseq as last
 * reported, and the mod-sequence up to which the view has followed the store's journal.
 *
 * Other sessions and deliveries change the mailbox at any time; the view learns of it by
 * pulling `changesSince` and turns the difference into untagged responses. Expunges are held
 * back while the client may not be told of them (during FETCH, STORE and SEARCH, RFC 3501
 * §7.4.1), so sequence numbers never shift under a command in progress.
 */
import type { Mailbox, MailboxChanges, MessageMeta } from "../store/mail_store.ts";
import { sameFlagSet } from "../store/flag_sets.ts";

/** What the client has been told about one message. */
export interface ViewMessage {
  uid: number;
  flags: readonly string[];
  modSeq: number;
  internalDate: number;
  size: number;
}

/** An untagged response that a sync produced, before formatting. */
export type ViewUpdate =
  | { kind: "expunge"; seq: number; uid: number }
  | { kind: "exists"; count: number }
  | { kind: "recent"; count: number }
  | { kind: "flags"; seq: number; message: ViewMessage }
  /** New keywords appeared: the FLAGS list grows (RFC 3501 §7.2.6). */
  | { kind: "keywords"; keywords: string[] };

/**
 * The highest UID each mailbox has shown as \Recent to some session of this process
 * (RFC 3501 §2.3.2: a message is recent in exactly one session), by {@link recentKey}.
 */
const recentShown = new Map<string, number>();

/** Mailbox id with UIDVALIDITY: a mailbox made again anew starts with nothing shown. */
function recentKey(id: string, uidValidity: number): string {
  return `${id}/${uidValidity}`;
}

/**
 * Flag lists shared by every view of the process: mail has few distinct flag sets, and a phone
 * idling on an INBOX of thousands must not hold thousands of arrays (each view keeps only a
 * reference per message). Bounded; past the bound a list is kept as it is.
 */
const flagSets = new Map<string, readonly string[]>();
const MAX_FLAG_SETS = 10_000;
const NO_FLAGS: readonly string[] = Object.freeze([]);

/** The shared, frozen list equal to `flags` (same flags in the same order). */
export function internFlags(flags: readonly string[]): readonly string[] {
  if (flags.length === 0) return NO_FLAGS;
  // Flags are atoms (RFC 3501 §9 flag-keyword): no space inside one.
  const key = flags.join(" ");
  const known = flagSets.get(key);
  if (known) return known;
  const shared = Object.freeze([...flags]);
  if (flagSets.size < MAX_FLAG_SETS) flagSets.set(key, shared);
  return shared;
}

/** One selected mailbox. */
export class SelectedMailbox {
  readonly id: string;
  readonly name: string;
  readonly uidValidity: number;
  /** The mod-sequence up to which the store's journal has been applied. */
  syncedModSeq: number;
  uidNext: number;
  /**
   * The view, one column per field, index = sequence number − 1: a few numbers per message
   * instead of an object and a map entry each (an IDLE session may sit on a large INBOX for
   * hours). Replaced, never changed in place, when messages leave.
   */
  #uids: number[] = [];
  #flags: (readonly string[])[] = [];
  #modSeqs: number[] = [];
  #dates: number[] = [];
  #sizes: number[] = [];
  #recent = new Set<number>();
  /** UIDs known to be expunged but not yet reported. */
  #pendingExpunge = new Set<number>();
  /** Keywords announced in FLAGS: a client may reject a keyword it was not told of. */
  #keywords = new Set<string>();

  constructor(box: Mailbox, messages: readonly MessageMeta[], readonly readOnly: boolean) {
    this.id = box.id;
    this.name = box.name;
    this.uidValidity = box.uidValidity;
    this.syncedModSeq = box.highestModSeq;
    this.uidNext = box.uidNext;
    // Built whole, so each column is exactly as long as the mailbox (push leaves slack).
    this.#uids = messages.map((m) => m.uid);
    this.#flags = messages.map((m) => internFlags(m.flags));
    this.#modSeqs = messages.map((m) => m.modSeq);
    this.#dates = messages.map((m) => m.internalDate);
    this.#sizes = messages.map((m) => m.size);
    this.#newKeywords(messages.flatMap((m) => m.flags));
    if (readOnly) this.#peekRecent();
    else this.#claimRecent();
  }

  /** The keywords of the mailbox's FLAGS list, in the order they appeared. */
  get keywords(): string[] {
    return [...this.#keywords];
  }

  /** Messages in the view (the EXISTS count). */
  get exists(): number {
    return this.#uids.length;
  }

  /** Messages recent in this session. */
  get recentCount(): number {
    return this.#recent.size;
  }

  /** The UIDs in sequence order; index + 1 is the sequence number. */
  get uids(): readonly number[] {
    return this.#uids;
  }

  /** The highest modseq of any message in the view (for a STATUS-like HIGHESTMODSEQ). */
  get highestModSeq(): number {
    return this.syncedModSeq;
  }

  /** The message with this UID as the client knows it. */
  message(uid: number): ViewMessage | undefined {
    const i = this.seqOf(uid) - 1;
    return i < 0 ? undefined : this.#at(i);
  }

  #at(i: number): ViewMessage {
    return {
      uid: this.#uids[i],
      flags: this.#flags[i],
      modSeq: this.#modSeqs[i],
      internalDate: this.#dates[i],
      size: this.#sizes[i],
    };
  }

  /** True when this session sees `uid` as \Recent. */
  isRecent(uid: number): boolean {
    return this.#recent.has(uid);
  }

  /** True when the message was expunged by someone and the client has not been told yet. */
  isExpungedPending(uid: number): boolean {
    return this.#pendingExpunge.has(uid);
  }

  /** The sequence number of `uid`, or 0 when it is not in the view. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.#uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.#uids[mid];
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /**
   * Records flags this session itself set (STORE), so the journal does not echo them back.
   * Returns the FLAGS update owed when a keyword is new to the mailbox.
   */
  noteFlags(meta: MessageMeta): ViewUpdate | undefined {
    const i = this.seqOf(meta.uid) - 1;
    if (i >= 0) {
      this.#flags[i] = internFlags(meta.flags);
      this.#modSeqs[i] = meta.modSeq;
    }
    return this.#newKeywords(meta.flags);
  }

  /** Adds keywords not seen before; the FLAGS update when there were any. */
  #newKeywords(flags: readonly string[]): ViewUpdate | undefined {
    let grew = false;
    for (const f of flags) {
      if (f.startsWith("\\") || this.#keywords.has(f)) continue;
      this.#keywords.add(f);
      grew = true;
    }
    return grew ? { kind: "keywords", keywords: this.keywords } : undefined;
  }

  /**
   * Applies the journal's changes; returns the untagged responses owed, in order. With
   * `allowExpunge` false, expunges are kept for a later call.
   */
  apply(changes: MailboxChanges, allowExpunge: boolean): ViewUpdate[] {
    const updates: ViewUpdate[] = [];
    for (const uid of changes.vanished) {
      if (this.seqOf(uid) > 0) this.#pendingExpunge.add(uid);
    }
    if (allowExpunge) updates.push(...this.flushExpunges());
    const keywords = this.#newKeywords(changes.changed.flatMap((m) => m.flags));
    if (keywords) updates.push(keywords);
    const before = this.#uids.length;
    const recentBefore = this.#recent.size;
    const last = this.#uids.at(-1) ?? 0;
    for (const meta of changes.changed) {
      if (changes.vanished.includes(meta.uid)) continue;
      const i = this.seqOf(meta.uid) - 1;
      if (i >= 0) {
        if (this.#modSeqs[i] === meta.modSeq && sameFlagSet(this.#flags[i], meta.flags)) continue;
        this.#flags[i] = internFlags(meta.flags);
        this.#modSeqs[i] = meta.modSeq;
        if (!this.#pendingExpunge.has(meta.uid)) {
          updates.push({ kind: "flags", seq: i + 1, message: this.#at(i) });
        }
      } else if (meta.uid > last) {
        // New mail: sequence numbers are only ever appended (RFC 3501 §2.3.1.2).
        this.#add(meta);
      }
    }
    if (this.#uids.length !== before) {
      if (this.readOnly) this.#peekRecent();
      else this.#claimRecent();
      updates.push({ kind: "exists", count: this.#uids.length });
      if (this.#recent.size !== recentBefore) {
        updates.push({ kind: "recent", count: this.#recent.size });
      }
    }
    this.syncedModSeq = Math.max(this.syncedModSeq, changes.highestModSeq);
    this.uidNext = Math.max(this.uidNext, (this.#uids.at(-1) ?? 0) + 1);
    return updates;
  }

  /**
   * Removes the pending expunges from the view, returning one update each, highest sequence
   * number first so the numbers of the others stay valid while the client applies them.
   */
  flushExpunges(): ViewUpdate[] {
    if (this.#pendingExpunge.size === 0) return [];
    const gone = [...this.#pendingExpunge].map((uid) => ({ uid, seq: this.seqOf(uid) }))
      .filter((e) => e.seq > 0)
      .sort((a, b) => b.seq - a.seq);
    this.#pendingExpunge.clear();
    for (const { uid } of gone) this.#recent.delete(uid);
    const goneSet = new Set(gone.map((e) => e.uid));
    const keep = (_: unknown, i: number) => !goneSet.has(this.#uids[i]);
    this.#flags = this.#flags.filter(keep);
    this.#modSeqs = this.#modSeqs.filter(keep);
    this.#dates = this.#dates.filter(keep);
    this.#sizes = this.#sizes.filter(keep);
    this.#uids = this.#uids.filter((uid) => !goneSet.has(uid));
    return gone.map(({ uid, seq }) => ({ kind: "expunge", seq, uid }));
  }

  /** Removes messages this session expunged itself; returns their updates like flushExpunges. */
  removeOwn(uids: readonly number[]): ViewUpdate[] {
    for (const uid of uids) if (this.seqOf(uid) > 0) this.#pendingExpunge.add(uid);
    return this.flushExpunges();
  }

  #add(meta: MessageMeta): void {
    this.#uids.push(meta.uid);
    this.#flags.push(internFlags(meta.flags));
    this.#modSeqs.push(meta.modSeq);
    this.#dates.push(meta.internalDate);
    this.#sizes.push(meta.size);
  }

  /** Shows \Recent without taking it: EXAMINE leaves it to the next SELECT (RFC 3501 §6.3.2). */
  #peekRecent(): void {
    const shown = recentShown.get(recentKey(this.id, this.uidValidity)) ?? 0;
    for (let i = this.#uids.length - 1; i >= 0 && this.#uids[i] > shown; i--) {
      this.#recent.add(this.#uids[i]);
    }
  }

  /** Takes \Recent for the messages no session of this process has shown yet. */
  #claimRecent(): void {
    const key = recentKey(this.id, this.uidValidity);
    const shown = recentShown.get(key) ?? 0;
    let highest = shown;
    for (let i = this.#uids.length - 1; i >= 0 && this.#uids[i] > shown; i--) {
      this.#recent.add(this.#uids[i]);
      highest = Math.max(highest, this.#uids[i]);
    }
    if (highest > shown) recentShown.set(key, highest);
  }
}

/** How many of `uids` (ascending) no session has shown as \Recent yet (STATUS RECENT). */
export function unclaimedRecent(
  mailboxId: string,
  uidValidity: number,
  uids: readonly number[],
): number {
  const shown = recentShown.get(recentKey(mailboxId, uidValidity)) ?? 0;
  let n = 0;
  for (let i = uids.length - 1; i >= 0 && uids[i] > shown; i--) n++;
  return n;
}
