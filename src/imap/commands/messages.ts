/**
 * Commands on the selected mailbox's messages (RFC 9051 §6.4): STORE (with UNCHANGEDSINCE,
 * RFC 7162 §3.1.3), COPY and MOVE (RFC 6851) with COPYUID (RFC 4315), EXPUNGE and UID EXPUNGE,
 * CLOSE, UNSELECT (RFC 3691), CHECK, and IDLE (RFC 2177). Every tagged OK follows the store's
 * durable commit.
 */
import { StoreError } from "../../store/mail_store.ts";
import { formatSet } from "../parse/sequence_set.ts";
import { storeName } from "../mailbox_names.ts";
import { flagList } from "../format.ts";
import { shownFlags } from "../updates.ts";
import type { Completion, ImapSession } from "../session.ts";
import { bad, type CommandOf, expungeIssued, no, ok, type PartialTable, SELECTED } from "./spec.ts";
import { uidsOf } from "./message_set.ts";
import { fetch } from "./fetch.ts";
import { search } from "./search.ts";

type CopyCommand = CommandOf<"COPY" | "MOVE">;

const READ_ONLY = "The mailbox is open read-only (EXAMINE)";

/** Expunges `uids` (those with \Deleted) and reports them unless `quiet` (CLOSE). */
async function expungeDeleted(
  s: ImapSession,
  only: number[] | undefined,
  quiet: boolean,
): Promise<void> {
  const view = s.selected!;
  // The view's flags are brought up to date first: another session may have set \Deleted.
  await s.pushUpdates(true, true);
  const candidates = only ?? view.uids;
  const doomed = candidates.filter((uid) => view.message(uid)?.flags.includes("\\Deleted"));
  if (doomed.length === 0) return;
  const removed = await s.ports.store.expunge(view.id, doomed);
  const updates = view.removeOwn(removed);
  if (!quiet) s.writeUpdates(updates);
}

/** COPY and MOVE: RFC 9051 §6.4.7, RFC 6851 §3. */
async function copyOrMove(s: ImapSession, cmd: CopyCommand): Promise<Completion> {
  const view = s.selected!;
  const move = cmd.name === "MOVE";
  if (move && view.readOnly) return no(READ_ONLY, "READ-ONLY");
  const uids = uidsOf(view, cmd.set, cmd.uid);
  if (typeof uids === "string") return bad(uids);
  const store = s.ports.store;
  const target = await store.getMailbox(s.mail!.address, storeName(cmd.mailbox));
  if (!target) return no("No such mailbox", "TRYCREATE");
  if (uids.length === 0) return ok(`${cmd.name} completed: nothing to do`);
  if (!move && (await overQuota(s, uids))) {
    return no("Quota exceeded", "OVERQUOTA");
  }
  const map = move
    ? await store.moveMessages(view.id, uids, target.id)
    : await store.copyMessages(view.id, uids, target.id);
  if (!move && map.source.length < uids.length) {
    // Some were expunged by another session meanwhile: a COPY is all or nothing
    // (RFC 2180 §4.4.1), so the copies made go again.
    if (map.target.length > 0) await store.expunge(target.id, map.target);
    return expungeIssued();
  }
  const copyUid = map.source.length > 0
    ? `COPYUID ${map.uidValidity} ${formatSet(map.source)} ${formatSet(map.target)}`
    : undefined;
  if (!move) return ok("COPY completed", copyUid);
  // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
  if (copyUid) s.untagged(`OK [${copyUid}] Moved`);
  s.writeUpdates(view.removeOwn(map.source));
  return ok("MOVE completed");
}

/** True when copying these messages would pass the user's quota (RFC 9208 §5.1). */
async function overQuota(s: ImapSession, uids: number[]): Promise<boolean> {
  const limit = s.ports.limits.quotaOctets;
  if (limit <= 0) return false;
  const view = s.selected!;
  const adding = uids.reduce((n, uid) => n + (view.message(uid)?.size ?? 0), 0);
  return (await s.ports.store.usage(s.mail!.address)) + adding > limit;
}

/** The selected state's message commands. */
export const MESSAGE_COMMANDS: PartialTable<
  | "FETCH"
  | "SEARCH"
  | "STORE"
  | "COPY"
  | "MOVE"
  | "EXPUNGE"
  | "CLOSE"
  | "UNSELECT"
  | "CHECK"
  | "IDLE"
> = {
  FETCH: { states: SELECTED, handle: fetch },
  SEARCH: { states: SELECTED, handle: search },
  /** RFC 9051 §6.4.6, RFC 7162 §3.1.3. */
  STORE: {
    states: SELECTED,
    async handle(s, cmd) {
      const view = s.selected!;
      if (view.readOnly) return no(READ_ONLY, "READ-ONLY");
      const uids = uidsOf(view, cmd.set, cmd.uid);
      if (typeof uids === "string") return bad(uids);
      if (cmd.flags.includes("\\Recent")) return bad("\\Recent cannot be stored");
      if (cmd.unchangedSince !== undefined) s.enableCondstore();
      const result = await s.ports.store.storeFlags(
        view.id,
        uids,
        cmd.mode,
        cmd.flags,
        cmd.unchangedSince,
      );
      for (const meta of result.updated) {
        const before = view.message(meta.uid)?.modSeq;
        const keywords = view.noteFlags(meta);
        if (keywords) s.writeUpdates([keywords]);
        // RFC 7162 §3.1.3: with .SILENT, a changed message's new MODSEQ is still reported.
        const changed = before !== meta.modSeq;
        if (cmd.silent && !(s.enabled.condstore && changed)) continue;
        const seq = view.seqOf(meta.uid);
        if (seq === 0) continue;
        const fields: string[] = [];
        if (cmd.uid || s.enabled.qresync) fields.push(`UID ${meta.uid}`);
        if (!cmd.silent) {
          fields.push(
            `FLAGS ${flagList(shownFlags(view.message(meta.uid)!, view, s.enabled.rev2))}`,
          );
        }
        if (s.enabled.condstore) fields.push(`MODSEQ (${meta.modSeq})`);
        s.untagged(`${seq} FETCH (${fields.join(" ")})`);
      }
      // Messages another session expunged meanwhile are passed over: the flags of a message
      // that is gone no longer matter (RFC 2180 §4.2.1), and the EXPUNGE follows.
      if (result.modified.length > 0) {
        const numbers = cmd.uid ? result.modified : result.modified.map((u) => view.seqOf(u));
        return ok("Conditional STORE failed for some messages", `MODIFIED ${formatSet(numbers)}`);
      }
      return ok(`${cmd.uid ? "UID STORE" : "STORE"} completed`);
    },
  },
  COPY: { states: SELECTED, handle: copyOrMove },
  MOVE: { states: SELECTED, handle: copyOrMove },
  /** RFC 9051 §6.4.3; UID EXPUNGE (RFC 4315 §2.1) limits it to a UID set. */
  EXPUNGE: {
    states: SELECTED,
    async handle(s, cmd) {
      const view = s.selected!;
      if (view.readOnly) return no(READ_ONLY, "READ-ONLY");
      let only: number[] | undefined;
      if (cmd.uid) {
        const uids = uidsOf(view, cmd.set, true);
        if (typeof uids === "string") return bad(uids);
        only = uids;
      }
      await expungeDeleted(s, only, false);
      return ok(`${cmd.uid ? "UID EXPUNGE" : "EXPUNGE"} completed`);
    },
  },
  /** RFC 9051 §6.4.2: expunges silently (read-write only), then leaves the mailbox. */
  CLOSE: {
    states: SELECTED,
    async handle(s) {
      if (!s.selected!.readOnly) {
        try {
          await expungeDeleted(s, undefined, true);
        } catch (err) {
          if (!(err instanceof StoreError)) throw err;
          s.log.warn("imap.close.expunge_failed", { error: err.message });
        }
      }
      s.deselect();
      return ok("CLOSE completed");
    },
  },
  /** RFC 3691: leaves the mailbox without expunging. */
  UNSELECT: {
    states: SELECTED,
    handle(s) {
      s.deselect();
      return Promise.resolve(ok("UNSELECT completed"));
    },
  },
  /** RFC 3501 §6.4.1: every change is durable already; a poll like NOOP. */
  CHECK: {
    states: SELECTED,
    async handle(s) {
      await s.pushUpdates(true, true);
      return ok("CHECK completed");
    },
  },
  /** RFC 2177: changes are pushed until DONE. */
  IDLE: {
    states: ["authenticated", "selected"],
    async handle(s) {
      s.conn.write("+ idling\r\n");
      const end = await s.idle();
      if (end === "done") return ok("IDLE terminated");
      if (end === "bad") return bad("Expected DONE");
      if (end === "interrupted") {
        s.bye("Server shutting down");
        return { status: "OK", text: "", sent: true };
      }
      if (end === "timeout") {
        s.bye("Autologout; idle for too long");
        return { status: "OK", text: "", sent: true };
      }
      s.conn.destroy();
      return { status: "OK", text: "", sent: true };
    },
  },
};
