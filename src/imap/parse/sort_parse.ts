/**
 * The arguments of SORT (RFC 5256 §3, with ESORT's RETURN of RFC 5267 §3 and the DISPLAYFROM /
 * DISPLAYTO keys of RFC 5957) and THREAD (RFC 5256 §3). Pure; the search program itself is read
 * by `readSearchProgram`.
 */
import type {
  ImapCommand,
  SortCriterion,
  SortKeyName,
  SortReturn,
  ThreadAlgorithm,
} from "./command.ts";
import { fault, type Reader } from "./reader.ts";
import { readSearchProgram, type StringDecoder } from "./search_parse.ts";

const SORT_KEYS = new Set<string>([
  "ARRIVAL",
  "CC",
  "DATE",
  "FROM",
  "SIZE",
  "SUBJECT",
  "TO",
  "DISPLAYFROM",
  "DISPLAYTO",
]);

const SORT_RETURNS = new Set<string>(["MIN", "MAX", "ALL", "COUNT"]);

const THREAD_ALGORITHMS = new Set<string>(["ORDEREDSUBJECT", "REFERENCES"]);

/** The decoder of search strings for a CHARSET name. */
export type DecoderFor = (charset: string) => StringDecoder;

/**
 * `SORT [RETURN (opts)] (criteria) charset search-program`, read after the command name.
 * RFC 5256 §4: the charset is mandatory and the criteria list may not be empty; REVERSE
 * applies to the key that follows it and may not end the list.
 */
export function readSort(
  r: Reader,
  tag: string,
  uid: boolean,
  decoderFor: DecoderFor,
): ImapCommand {
  r.sp();
  let returns: SortReturn[] | undefined;
  if (r.keyword("RETURN")) {
    r.sp();
    returns = r.list(() => {
      const opt = r.word("a return option");
      if (!SORT_RETURNS.has(opt)) fault(`Unknown SORT return option ${opt.slice(0, 30)}`);
      return opt as SortReturn;
    });
    // RFC 5267 §3, as RFC 4731 §3.1: RETURN () means RETURN (ALL).
    if (returns.length === 0) returns = ["ALL"];
    r.sp();
  }
  const criteria: SortCriterion[] = [];
  let reverse = false;
  r.list(() => {
    const word = r.word("a sort key");
    if (word === "REVERSE") {
      if (reverse) fault("REVERSE REVERSE is not a sort key");
      reverse = true;
      return;
    }
    if (!SORT_KEYS.has(word)) fault(`Unknown sort key ${word.slice(0, 30)}`);
    criteria.push({ key: word as SortKeyName, reverse });
    reverse = false;
  }, false);
  if (reverse) fault("REVERSE needs a sort key after it");
  r.sp();
  const charset = r.astring();
  r.sp();
  const program = readSearchProgram(r, decoderFor(charset));
  const command: ImapCommand = { tag, name: "SORT", uid, criteria, charset, program };
  if (returns !== undefined) command.returns = returns;
  return command;
}

/** `THREAD algorithm charset search-program`, read after the command name (RFC 5256 §4). */
export function readThread(
  r: Reader,
  tag: string,
  uid: boolean,
  decoderFor: DecoderFor,
): ImapCommand {
  r.sp();
  const algorithm = r.word("a threading algorithm");
  if (!THREAD_ALGORITHMS.has(algorithm)) {
    fault(`Unknown threading algorithm ${algorithm.slice(0, 30)}`);
  }
  r.sp();
  const charset = r.astring();
  r.sp();
  const program = readSearchProgram(r, decoderFor(charset));
  return {
    tag,
    name: "THREAD",
    uid,
    algorithm: algorithm as ThreadAlgorithm,
    charset,
    program,
  };
}
