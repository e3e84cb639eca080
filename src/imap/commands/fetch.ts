/**
 * FETCH and UID FETCH (RFC 9051 §6.4.5), with BINARY (RFC 3516), CHANGEDSINCE and VANISHED
 * (RFC 7162 §3.1.4, §3.2.6). ENVELOPE, BODYSTRUCTURE and header fields are served from the
 * message's sealed summary; only body sections open the message itself.
 */
import type { FetchItem } from "../parse/command.ts";
import { fetchItemName } from "../parse/fetch_items.ts";
import { formatSet, setContains } from "../parse/sequence_set.ts";
import type { MessageSummary } from "../../mime/summary.ts";
import {
  decodePart,
  findPart,
  headerFields,
  partialRange,
  sectionBytes,
} from "../../mime/section.ts";
import { renderEnvelope } from "../render/envelope.ts";
import { renderBodyStructure } from "../render/bodystructure.ts";
import { type Chunk, flagList, internalDate, literal } from "../format.ts";
import { shownFlags } from "../updates.ts";
import type { Completion, ImapSession } from "../session.ts";
import { bad, type CommandOf, expungeIssued, no, ok } from "./spec.ts";
import { uidsOf } from "./message_set.ts";

type FetchCommand = CommandOf<"FETCH">;

/** Send after this many octets of FETCH responses, waiting for a slow reader, to bound memory. */
const FLUSH_AT = 256 * 1024;
/**
 * Bodies read from the store and opened in one batch, at most: one round trip for many
 * messages, and decrypted mail held only for the few responses being written.
 */
const BODY_BATCH = 64;
const BODY_BATCH_OCTETS = 1024 * 1024;

/** True when the item can be answered from the summary alone. */
function fromSummary(item: FetchItem): boolean {
  switch (item.kind) {
    case "ENVELOPE":
    case "BODYSTRUCTURE":
    case "BODY":
    case "RFC822.HEADER":
      return true;
    case "BODY[]":
      return item.section.part.length === 0 && (item.section.text?.startsWith("HEADER") ?? false);
    default:
      return false;
  }
}

/**
 * True when the item needs the message's structure from its summary besides its content: a
 * section or the text after the header. A whole message (BODY[], RFC822, BINARY[]) does not.
 */
function needsStructure(item: FetchItem): boolean {
  switch (item.kind) {
    case "RFC822.TEXT":
      return true;
    case "BODY[]":
      return item.section.part.length > 0 || item.section.text !== undefined;
    case "BINARY":
    case "BINARY.SIZE":
      return item.part.length > 0;
    default:
      return false;
  }
}

/** True when the item needs the message's content. */
function needsBody(item: FetchItem): boolean {
  return item.kind === "RFC822" || item.kind === "RFC822.TEXT" || item.kind === "BINARY" ||
    item.kind === "BINARY.SIZE" || (item.kind === "BODY[]" && !fromSummary(item));
}

/** True when fetching the item sets \Seen (RFC 9051 §6.4.5: BODY[] without PEEK, RFC822...). */
function setsSeen(item: FetchItem): boolean {
  if (item.kind === "BODY[]" || item.kind === "BINARY") return !item.peek;
  return item.kind === "RFC822" || item.kind === "RFC822.TEXT";
}

/** Runs FETCH / UID FETCH. */
export async function fetch(s: ImapSession, cmd: FetchCommand): Promise<Completion> {
  const view = s.selected!;
  const found = uidsOf(view, cmd.set, cmd.uid);
  if (typeof found === "string") return bad(found);
  let uids = found;
  const items = [...cmd.items];
  if (cmd.uid && !items.some((i) => i.kind === "UID")) items.unshift({ kind: "UID" });
  if (cmd.changedSince !== undefined) {
    // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ and enables CONDSTORE.
    s.enableCondstore();
    const since = cmd.changedSince;
    uids = uids.filter((uid) => (view.message(uid)?.modSeq ?? 0) > since);
    if (!items.some((i) => i.kind === "MODSEQ")) items.push({ kind: "MODSEQ" });
  }
  if (items.some((i) => i.kind === "MODSEQ")) s.enableCondstore();
  if (cmd.vanished) {
    // RFC 7162 §3.2.6: only UID FETCH with CHANGEDSINCE, once QRESYNC is enabled.
    if (!cmd.uid || cmd.changedSince === undefined || !s.enabled.qresync) {
      return bad("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled");
    }
    const changes = await s.ports.store.changesSince(view.id, cmd.changedSince);
    const largest = Math.max(view.uidNext - 1, 1);
    const gone = changes.vanished.filter((uid) => setContains(cmd.set, uid, largest));
    if (gone.length > 0) s.untagged(`VANISHED (EARLIER) ${formatSet(gone)}`);
  }

  const mail = s.mail!;
  // A download of whole messages opens no summary: only the bodies.
  const wantSummary = items.some((i) => fromSummary(i) || needsStructure(i));
  const wantBody = items.some(needsBody);
  const summaries = wantSummary ? await mail.summaries(view.id, uids) : new Map();
  const seenNow = new Set<number>();
  if (!view.readOnly && items.some(setsSeen)) {
    const unseen = uids.filter((uid) => !view.message(uid)?.flags.includes("\\Seen"));
    if (unseen.length > 0) {
      const result = await s.ports.store.storeFlags(view.id, unseen, "add", ["\\Seen"]);
      for (const meta of result.updated) {
        view.noteFlags(meta); // \Seen is no keyword: the FLAGS list stays as it is
        seenNow.add(meta.uid);
      }
    }
  }

  let pending = 0;
  let gone = 0;
  let bodies = new Map<number, Uint8Array>();
  let batchEnd = 0;
  for (let at = 0; at < uids.length; at++) {
    const uid = uids[at];
    if (wantBody && at >= batchEnd) {
      batchEnd = bodyBatchEnd(s, uids, at);
      bodies = await bodiesOf(s, uids.slice(at, batchEnd));
    }
    const seq = view.seqOf(uid);
    const meta = view.message(uid);
    if (seq === 0 || !meta) continue;
    const summary = summaries.get(uid);
    const body = bodies.get(uid);
    if ((wantSummary && !summary) || (wantBody && !body)) {
      gone++; // expunged by another session, not yet reported to this one
      continue;
    }
    const out: Chunk[] = [];
    const parts: Chunk[][] = [];
    for (const item of items) {
      const rendered = renderItem(s, item, uid, summary, body);
      if (typeof rendered === "string" && rendered.startsWith("!")) {
        return no(rendered.slice(1), "UNKNOWN-CTE");
      }
      parts.push(typeof rendered === "string" ? [rendered] : rendered);
    }
    if (seenNow.has(uid) && !items.some((i) => i.kind === "FLAGS")) {
      parts.push([renderItem(s, { kind: "FLAGS" }, uid, summary, body) as string]);
    }
    out.push(`* ${seq} FETCH (`);
    parts.forEach((p, i) => {
      if (i > 0) out.push(" ");
      out.push(...p);
    });
    out.push(")\r\n");
    s.write(out);
    pending += out.reduce((n, c) => n + c.length, 0);
    if (pending >= FLUSH_AT) {
      await s.conn.drained();
      if (s.conn.closed) return ok("FETCH ended: the client went away");
      pending = 0;
    }
  }
  if (gone > 0) return expungeIssued();
  return ok(`${cmd.uid ? "UID FETCH" : "FETCH"} completed`);
}

/** Where the body batch starting at `uids[at]` ends: {@link BODY_BATCH}, its octets bounded. */
function bodyBatchEnd(s: ImapSession, uids: readonly number[], at: number): number {
  const view = s.selected!;
  let octets = view.message(uids[at])?.size ?? 0;
  let end = at + 1;
  while (end < uids.length && end - at < BODY_BATCH) {
    octets += view.message(uids[end])?.size ?? 0;
    if (octets > BODY_BATCH_OCTETS) break;
    end++;
  }
  return end;
}

/**
 * The clear text of these messages, by UID (the gone left out): one message through the
 * session's body cache (a client fetching its parts one after another), several in one round
 * trip.
 */
async function bodiesOf(s: ImapSession, uids: number[]): Promise<Map<number, Uint8Array>> {
  const mail = s.mail!;
  const view = s.selected!;
  if (uids.length > 1) return await mail.bodies(view.id, uids);
  const body = await mail.body(view.id, uids[0]);
  return new Map(body ? [[uids[0], body]] : []);
}

/**
 * ENVELOPE, BODYSTRUCTURE and BODY of a summary, rendered once: summaries are shared by a
 * user's sessions, and clients ask for the same envelopes at every resynchronisation.
 */
const renderings = new WeakMap<MessageSummary, Map<string, string>>();

function rendered(
  summary: MessageSummary,
  kind: "ENVELOPE" | "BODYSTRUCTURE" | "BODY",
  utf8: boolean,
): string {
  let done = renderings.get(summary);
  if (!done) {
    done = new Map();
    renderings.set(summary, done);
  }
  const key = `${kind}/${utf8}`;
  let text = done.get(key);
  if (text === undefined) {
    text = kind === "ENVELOPE"
      ? renderEnvelope(summary.header, utf8)
      : renderBodyStructure(summary.structure, undefined, kind === "BODYSTRUCTURE", utf8);
    done.set(key, text);
  }
  return text;
}

/**
 * One item of one message: text, or chunks holding a literal; a string starting with "!" is
 * a failure to report (a content-transfer-encoding BINARY cannot decode, RFC 3516 §4.3).
 */
function renderItem(
  s: ImapSession,
  item: FetchItem,
  uid: number,
  summary: MessageSummary | undefined,
  body: Uint8Array | undefined,
): string | Chunk[] {
  const view = s.selected!;
  const meta = view.message(uid)!;
  switch (item.kind) {
    case "UID":
      return `UID ${uid}`;
    case "FLAGS":
      return `FLAGS ${flagList(shownFlags(meta, view, s.enabled.rev2))}`;
    case "INTERNALDATE":
      return `INTERNALDATE ${internalDate(meta.internalDate)}`;
    case "RFC822.SIZE":
      return `RFC822.SIZE ${meta.size}`;
    case "MODSEQ":
      return `MODSEQ (${meta.modSeq})`;
    case "ENVELOPE":
    case "BODYSTRUCTURE":
    case "BODY":
      return `${item.kind} ${rendered(summary!, item.kind, s.utf8)}`;
    case "RFC822":
      return ["RFC822 ", ...literal(body!)];
    case "RFC822.HEADER":
      return ["RFC822.HEADER ", ...literal(summary!.header)];
    case "RFC822.TEXT":
      return ["RFC822.TEXT ", ...literal(body!.subarray(summary!.structure.headerEnd))];
    case "BODY[]": {
      const { section } = item;
      let bytes: Uint8Array;
      if (fromSummary(item)) {
        bytes = section.text === "HEADER" ? summary!.header : headerFields(
          summary!.header,
          section.fields ?? [],
          section.text === "HEADER.FIELDS.NOT",
        );
      } else if (needsStructure(item)) {
        bytes = sectionBytes(body!, summary!.structure, section) ?? new Uint8Array(0);
      } else {
        bytes = body!; // the whole message (RFC 9051 §6.4.5, an empty section)
      }
      if (item.partial) bytes = partialRange(bytes, item.partial.offset, item.partial.length);
      return [`${fetchItemName(item)} `, ...literal(bytes)];
    }
    case "BINARY":
    case "BINARY.SIZE": {
      let decoded: Uint8Array | "unknown-encoding" = body!;
      if (item.part.length > 0) {
        const part = findPart(summary!.structure, item.part);
        decoded = part ? decodePart(body!, part) : new Uint8Array(0);
      }
      if (decoded === "unknown-encoding") return "!Unknown content-transfer-encoding";
      if (item.kind === "BINARY.SIZE") return `${fetchItemName(item)} ${decoded.length}`;
      if (item.partial) decoded = partialRange(decoded, item.partial.offset, item.partial.length);
      return [`${fetchItemName(item)} `, ...literal(decoded, decoded.includes(0))];
    }
  }
}
