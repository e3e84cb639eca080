/**
 * SORT and UID SORT (RFC 5256 §3, SORT=DISPLAY of RFC 5957), with ESORT results (RFC 5267
 * §3), and THREAD and UID THREAD (RFC 5256 §3). The search program picks the messages as for
 * SEARCH; their decrypted summaries give the sort and thread keys within the session.
 */
import { headerValues } from "../../mime/search_text.ts";
import { sortMessages } from "../sort/sort_keys.ts";
import { formatOrderedSet } from "../sort/sort_keys.ts";
import {
  parseMessageIds,
  renderThreads,
  type ThreadInput,
  threadOrderedSubject,
  threadReferences,
} from "../sort/thread.ts";
import type { SortCriterion } from "../parse/command.ts";
import type { Completion, ImapSession } from "../session.ts";
import { matchMessages, type SearchMatch } from "./search.ts";
import { type CommandOf, no, ok, type PartialTable, SELECTED } from "./spec.ts";

/** Charsets the search strings may be in. */
function charsetRefused(charset: string): Completion | undefined {
  const label = charset.toUpperCase();
  if (label === "UTF-8" || label === "US-ASCII") return undefined;
  return no("Supported charsets: US-ASCII, UTF-8", "BADCHARSET (US-ASCII UTF-8)");
}

/** Whether any criterion reads the header (all but ARRIVAL and SIZE do). */
function needsHeader(criteria: readonly SortCriterion[]): boolean {
  return criteria.some((c) => c.key !== "ARRIVAL" && c.key !== "SIZE");
}

/** Runs SORT / UID SORT. */
async function sort(s: ImapSession, cmd: CommandOf<"SORT">): Promise<Completion> {
  const refused = charsetRefused(cmd.charset);
  if (refused) return refused;
  const matches = await matchMessages(s, cmd.program, needsHeader(cmd.criteria));
  const sorted = sortMessages(
    matches.map((m) => ({
      match: m,
      seq: m.seq,
      internalDate: m.meta.internalDate,
      size: m.meta.size,
      header: m.summary?.header,
      sentDate: m.summary?.sentDate,
    })),
    cmd.criteria,
  );
  const numbers = sorted.map((m) => cmd.uid ? m.match.uid : m.match.seq);
  const name = cmd.uid ? "UID SORT" : "SORT";
  if (cmd.returns === undefined) {
    s.untagged(`SORT${numbers.map((n) => " " + n).join("")}`);
    return ok(`${name} completed`);
  }
  // RFC 5267 §3.1: MIN and MAX are the first and last in sort order, ALL keeps that order;
  // nothing but COUNT for an empty result.
  const data: string[] = [];
  if (cmd.returns.includes("MIN") && numbers.length > 0) data.push(`MIN ${numbers[0]}`);
  if (cmd.returns.includes("MAX") && numbers.length > 0) data.push(`MAX ${numbers.at(-1)}`);
  if (cmd.returns.includes("ALL") && numbers.length > 0) {
    data.push(`ALL ${formatOrderedSet(numbers)}`);
  }
  if (cmd.returns.includes("COUNT")) data.push(`COUNT ${numbers.length}`);
  const uid = cmd.uid ? " UID" : "";
  s.untagged(`ESEARCH (TAG "${cmd.tag}")${uid}${data.map((d) => " " + d).join("")}`);
  return ok(`${name} completed`);
}

/** What threading needs of a matched message. */
function threadInput(m: SearchMatch, uid: boolean): ThreadInput {
  const header = m.summary?.header;
  const values = (name: string) => header ? headerValues(header, name) : [];
  const messageId = values("message-id").flatMap(parseMessageIds)[0];
  // RFC 5256 §3 step 1B: References, or else the first msg-id of In-Reply-To.
  let references = values("references").flatMap(parseMessageIds);
  if (references.length === 0) {
    references = values("in-reply-to").flatMap(parseMessageIds).slice(0, 1);
  }
  const input: ThreadInput = {
    id: uid ? m.uid : m.seq,
    seq: m.seq,
    date: m.summary?.sentDate ?? m.meta.internalDate,
    subject: values("subject")[0] ?? "",
    references,
  };
  if (messageId !== undefined) input.messageId = messageId;
  return input;
}

/** Runs THREAD / UID THREAD. */
async function thread(s: ImapSession, cmd: CommandOf<"THREAD">): Promise<Completion> {
  const refused = charsetRefused(cmd.charset);
  if (refused) return refused;
  const matches = await matchMessages(s, cmd.program, true);
  const inputs = matches.map((m) => threadInput(m, cmd.uid));
  const threads = cmd.algorithm === "REFERENCES"
    ? threadReferences(inputs)
    : threadOrderedSubject(inputs);
  const lists = renderThreads(threads);
  s.untagged(lists === "" ? "THREAD" : `THREAD ${lists}`);
  return ok(`${cmd.uid ? "UID THREAD" : "THREAD"} completed`);
}

/** SORT and THREAD. */
export const SORT_COMMANDS: PartialTable<"SORT" | "THREAD"> = {
  SORT: { states: SELECTED, handle: sort },
  THREAD: { states: SELECTED, handle: thread },
};
