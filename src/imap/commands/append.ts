/**
 * APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 §3), APPENDLIMIT
 * (RFC 7889) and QUOTA (RFC 9208). Each message is sealed for its owner under their mailbox
 * key (no RSA at any later read), with its summary, and the tagged OK follows the durable
 * commit of all of them.
 */
import { sealForOwner } from "../../crypto/message_seal.ts";
import { buildSummary, encodeSummary } from "../../mime/summary.ts";
import { encodeBinaryParts } from "../../mime/encode_binary_parts.ts";
import { StoreError } from "../../store/mail_store.ts";
import { formatSet } from "../parse/sequence_set.ts";
import type { AppendMessage } from "../parse/command.ts";
import { storeName } from "../mailbox_names.ts";
import type { Completion, ImapSession } from "../session.ts";
import { AUTH, bad, type CommandOf, no, ok, type PartialTable } from "./spec.ts";

/** A message checked and ready to store. */
interface Prepared {
  message: Uint8Array;
  source: AppendMessage;
}

/** Checks every message before any is stored: one refusal refuses them all. */
function prepare(s: ImapSession, sources: AppendMessage[]): Prepared[] | Completion {
  const out: Prepared[] = [];
  for (const source of sources) {
    // RFC 3516 §4.4: binary content may be stored in another form; NULs become base64.
    const message = encodeBinaryParts(source.message);
    if (message.length === 0) return no("An empty message cannot be stored");
    if (message.length > s.ports.limits.maxMessageSize) return no("Message too large", "TOOBIG");
    if (source.flags?.includes("\\Recent")) return bad("\\Recent cannot be stored");
    out.push({ message, source });
  }
  return out;
}

/** Runs APPEND. */
async function append(s: ImapSession, cmd: CommandOf<"APPEND">): Promise<Completion> {
  const mail = s.mail!;
  const name = storeName(cmd.mailbox);
  const store = s.ports.store;
  const box = await store.getMailbox(mail.address, name);
  if (!box) return no("No such mailbox", "TRYCREATE");
  const prepared = prepare(s, cmd.messages);
  if (!Array.isArray(prepared)) return prepared;
  const quota = s.ports.limits.quotaOctets;
  const total = prepared.reduce((n, p) => n + p.message.length, 0);
  if (quota > 0 && (await store.usage(mail.address)) + total > quota) {
    return no("Quota exceeded", "OVERQUOTA");
  }
  // RFC 3502 §6.3.11: all the messages or none. A delivery carries one body, so they are
  // stored one by one, and those already stored are expunged again when a later one fails.
  const uids: number[] = [];
  try {
    for (const { message, source } of prepared) {
      const sealed = await sealForOwner(message, mail.keys, encodeSummary(buildSummary(message)));
      const refs = await store.deliver({
        id: crypto.randomUUID(),
        body: sealed.body,
        summary: sealed.summary,
        size: message.length,
        internalDate: source.date ?? Date.now(),
        items: [{
          address: mail.address,
          mailbox: name,
          wrappedKey: sealed.wrappedKey,
          keyWrap: "sym",
          flags: source.flags,
          createMailbox: false,
        }],
      });
      uids.push(refs[0].uid);
    }
  } catch (err) {
    // A mailbox deleted meanwhile took the stored ones with it: nothing is left to undo.
    if (uids.length > 0) await store.expunge(box.id, uids).catch(() => []);
    if (err instanceof StoreError && err.code === "not-found") {
      return no("No such mailbox", "TRYCREATE");
    }
    throw err;
  }
  // RFC 4315 §3: the UIDs of all the messages, in order.
  return ok("APPEND completed", `APPENDUID ${box.uidValidity} ${formatSet(uids)}`);
}

/** APPEND. */
export const APPEND_COMMANDS: PartialTable<"APPEND"> = {
  APPEND: { states: AUTH, handle: append },
};
