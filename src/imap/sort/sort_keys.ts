/**
 * SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957 §3): the sort value of each key and the
 * ordering of messages by a list of criteria. Pure: the caller hands in the raw header block
 * and the metadata of each message.
 */
import type { SortCriterion, SortKeyName } from "../parse/command.ts";
import { type Address, parseAddressList } from "../render/envelope.ts";
import { fieldValue, headerFieldsOf } from "../../mime/header_block.ts";
import { decodeEncodedWords } from "../../mime/search_text.ts";
import { baseSubject, casemap, compareCodePoints } from "./subject.ts";

/** What sorting needs of one message. */
export interface SortInput {
  /** The sequence number: the final tie-break (RFC 5256 §3). */
  seq: number;
  /** INTERNALDATE, ms since the epoch. */
  internalDate: number;
  /** RFC822.SIZE. */
  size: number;
  /** The raw top-level header block; absent when it could not be read. */
  header?: Uint8Array;
  /** The Date: field in ms since the epoch, when it parses. */
  sentDate?: number;
}

/** The first value of a header field, unfolded but not decoded; undefined when absent. */
function firstField(header: Uint8Array | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const field = headerFieldsOf(header).find((f) => f.name === name);
  return field === undefined ? undefined : fieldValue(header, field).replace(/\r$/, "");
}

/** The first address of an address field (a group's start names the group), if any. */
function firstAddress(header: Uint8Array | undefined, name: string): Address | undefined {
  const value = firstField(header, name);
  return value === undefined ? undefined : parseAddressList(value)[0];
}

/**
 * RFC 5957 §3: the display name (RFC 2047-decoded) of the address when it has one, otherwise
 * its addr-spec; a group, which has no host, sorts by its name.
 */
export function displayName(address: Address | undefined): string {
  if (!address) return "";
  const name = address.name === undefined ? "" : decodeEncodedWords(address.name).trim();
  if (name !== "") return name;
  const mailbox = address.mailbox ?? "";
  return address.host === undefined ? mailbox : `${mailbox}@${address.host}`;
}

/** The sort value of one key: a number, or a case-mapped string. */
export function sortValue(key: SortKeyName, msg: SortInput): number | string {
  switch (key) {
    case "ARRIVAL":
      return msg.internalDate;
    case "SIZE":
      return msg.size;
    case "DATE":
      // RFC 5256 §3: a missing or unparsable Date: sorts by INTERNALDATE.
      return msg.sentDate ?? msg.internalDate;
    case "SUBJECT": {
      const raw = firstField(msg.header, "subject");
      return casemap(raw === undefined ? "" : baseSubject(decodeEncodedWords(raw)).subject);
    }
    case "FROM":
    case "TO":
    case "CC":
      // RFC 5256 §3: the addr-mailbox of the first address.
      return casemap(firstAddress(msg.header, key.toLowerCase())?.mailbox ?? "");
    case "DISPLAYFROM":
      return casemap(displayName(firstAddress(msg.header, "from")));
    case "DISPLAYTO":
      return casemap(displayName(firstAddress(msg.header, "to")));
  }
}

function compareValues(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return compareCodePoints(String(a), String(b));
}

/**
 * The messages in SORT order: by each criterion in turn (REVERSE flipping only its own key),
 * then by sequence number, which REVERSE never flips (RFC 5256 §3).
 */
export function sortMessages<T extends SortInput>(
  messages: readonly T[],
  criteria: readonly SortCriterion[],
): T[] {
  const keyed = messages.map((msg) => ({
    msg,
    values: criteria.map((c) => sortValue(c.key, msg)),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const d = compareValues(a.values[i], b.values[i]);
      if (d !== 0) return criteria[i].reverse ? -d : d;
    }
    return a.msg.seq - b.msg.seq;
  });
  return keyed.map((k) => k.msg);
}

/**
 * Numbers in sorted order as an ESORT `ALL` sequence set (RFC 5267 §3.1): ranges only where
 * numbers ascend one by one, so the order is kept.
 */
export function formatOrderedSet(numbers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    parts.push(i === j ? `${numbers[i]}` : `${numbers[i]}:${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
