/**
 * SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with ESEARCH results (RFC 4731)
 * and MODSEQ (RFC 7162 §3.1.5). Header and text keys are matched on the decrypted summary and
 * message within the session: nothing searchable is stored in clear.
 */
import type { SearchKey } from "../parse/command.ts";
import { matchSearch, searchNeeds, type SearchTarget, sentDay } from "../parse/search_match.ts";
import { formatSet } from "../parse/sequence_set.ts";
import { bodySearchText, headerSearchText, headerValues } from "../../mime/search_text.ts";
import { parseAddressList } from "../../mime/header_addresses.ts";
import type { MessageSummary } from "../../mime/summary.ts";
import type { ViewMessage } from "../selected_mailbox.ts";
import type { Completion, ImapSession } from "../session.ts";
import { bad, type CommandOf, no, ok } from "./spec.ts";

type SearchCommand = CommandOf<"SEARCH">;

/** True when the program has a MODSEQ key (RFC 7162 §3.1.5). */
function usesModSeq(key: SearchKey): boolean {
  switch (key.op) {
    case "modseq":
      return true;
    case "and":
      return key.keys.some(usesModSeq);
    case "or":
      return usesModSeq(key.a) || usesModSeq(key.b);
    case "not":
      return usesModSeq(key.key);
    default:
      return false;
  }
}

/**
 * The MODSEQ of an ESEARCH result (RFC 7162 §3.1.5): with only MIN or only MAX asked, that
 * message's; otherwise the highest of all matches.
 */
function esearchModSeq(returns: readonly string[], modSeqs: readonly number[]): number {
  const wide = returns.some((r) => r === "ALL" || r === "COUNT");
  if (!wide && returns.includes("MIN") && !returns.includes("MAX")) return modSeqs[0];
  if (!wide && returns.includes("MAX") && !returns.includes("MIN")) return modSeqs.at(-1)!;
  return modSeqs.reduce((a, b) => Math.max(a, b), 0);
}

/** Address fields are also searched in their parsed form: comments and folding removed. */
const ADDRESS_FIELDS = new Set(["FROM", "TO", "CC", "BCC", "SENDER", "REPLY-TO"]);

/** The values a header key is matched against. */
function searchHeader(header: Uint8Array, name: string): string[] {
  const values = headerValues(header, name);
  if (!ADDRESS_FIELDS.has(name.toUpperCase())) return values;
  return [...values, ...values.flatMap(parseAddressList)];
}

/** A message of the selected mailbox that satisfied a search program. */
export interface SearchMatch {
  seq: number;
  uid: number;
  meta: ViewMessage;
  /** Its summary, when the program or the caller needed it and it could be opened. */
  summary?: MessageSummary;
}

/**
 * The messages of the selected mailbox that satisfy `program`, in sequence order. Summaries
 * are loaded when the program looks at headers or text, or when `withSummaries` asks (SORT,
 * THREAD).
 */
export async function matchMessages(
  s: ImapSession,
  program: SearchKey,
  withSummaries = false,
): Promise<SearchMatch[]> {
  const view = s.selected!;
  const mail = s.mail!;
  const needs = searchNeeds(program);
  const uids = view.uids;
  const load = withSummaries || needs.header || needs.text;
  const summaries = load ? await mail.summaries(view.id, uids) : new Map();
  const largestUid = uids.at(-1) ?? 0;
  const matches: SearchMatch[] = [];
  for (let i = 0; i < uids.length; i++) {
    const uid = uids[i];
    const meta = view.message(uid);
    if (!meta) continue;
    const summary = summaries.get(uid);
    if ((needs.header || needs.text) && !summary) continue;
    let body: Uint8Array | undefined;
    if (needs.text) body = await mail.body(view.id, uid);
    const date = summary ? headerValues(summary.header, "Date")[0] : undefined;
    const target: SearchTarget = {
      seq: i + 1,
      uid,
      flags: meta.flags,
      recent: view.isRecent(uid),
      internalDate: meta.internalDate,
      size: meta.size,
      modSeq: meta.modSeq,
      header: (name) => summary ? searchHeader(summary.header, name) : [],
      sentDate: date === undefined ? undefined : sentDay(date),
      headerText: () => summary ? headerSearchText(summary.header) : "",
      bodyText: () => body && summary ? bodySearchText(body, summary.structure) : "",
      largestSeq: uids.length,
      largestUid,
    };
    if (!matchSearch(program, target)) continue;
    matches.push(summary ? { seq: i + 1, uid, meta, summary } : { seq: i + 1, uid, meta });
  }
  return matches;
}

/** Runs SEARCH / UID SEARCH. */
export async function search(s: ImapSession, cmd: SearchCommand): Promise<Completion> {
  const charset = cmd.charset?.toUpperCase();
  if (charset !== undefined && charset !== "UTF-8" && charset !== "US-ASCII") {
    return no("Supported charsets: US-ASCII, UTF-8", "BADCHARSET (US-ASCII UTF-8)");
  }
  if (cmd.returns?.includes("SAVE")) return bad("SEARCHRES is not supported");
  const modseq = usesModSeq(cmd.program);
  if (modseq) s.enableCondstore();
  const matches = await matchMessages(s, cmd.program);
  const matched = matches.map((m) => cmd.uid ? m.uid : m.seq);
  const modSeqs = matches.map((m) => m.meta.modSeq);

  const returns = cmd.returns ?? (s.enabled.rev2 ? ["ALL"] : undefined);
  if (returns === undefined) {
    const mod = modseq && matched.length > 0
      ? ` (MODSEQ ${modSeqs.reduce((a, b) => Math.max(a, b), 0)})`
      : "";
    s.untagged(`SEARCH${matched.map((n) => " " + n).join("")}${mod}`);
  } else {
    // RFC 4731 §3.1: only the results asked for; none at all for an empty match but COUNT.
    // Results come in ascending order, so MIN and MAX are the ends.
    const all = returns.length === 0 ? ["ALL"] : returns;
    const data: string[] = [];
    if (all.includes("MIN") && matched.length > 0) data.push(`MIN ${matched[0]}`);
    if (all.includes("MAX") && matched.length > 0) data.push(`MAX ${matched[matched.length - 1]}`);
    if (all.includes("ALL") && matched.length > 0) data.push(`ALL ${formatSet(matched)}`);
    if (all.includes("COUNT")) data.push(`COUNT ${matched.length}`);
    if (modseq && matched.length > 0) data.push(`MODSEQ ${esearchModSeq(all, modSeqs)}`);
    const uid = cmd.uid ? " UID" : "";
    s.untagged(`ESEARCH (TAG "${cmd.tag}")${uid}${data.map((d) => " " + d).join("")}`);
  }
  return ok(`${cmd.uid ? "UID SEARCH" : "SEARCH"} completed`);
}
