/**
 * Sequence sets (RFC 3501 §9 `sequence-set`, RFC 9051 §9): parsing, resolving against the
 * mailbox's largest number, membership and compact formatting. `*` is {@link STAR} (0).
 */
import { type SequenceSet, STAR } from "./command.ts";

/** The largest message number or UID (RFC 3501 §9 `nz-number`: 32-bit). */
export const MAX_NUMBER = 0xffffffff;

/**
 * Parses the text of a sequence set; a message explaining the fault when malformed: an empty
 * element, a zero, a number beyond 2^32-1, or `$` (SEARCHRES, RFC 5182, not supported).
 */
export function parseSequenceSet(text: string): SequenceSet | string {
  if (text.includes("$")) return "SEARCHRES ($) is not supported";
  const ranges: Array<[number, number]> = [];
  for (const element of text.split(",")) {
    const colon = element.indexOf(":");
    const a = seqNumber(colon < 0 ? element : element.slice(0, colon));
    const b = colon < 0 ? a : seqNumber(element.slice(colon + 1));
    if (typeof a === "string") return a;
    if (typeof b === "string") return b;
    ranges.push([a, b]);
  }
  return { ranges };
}

function seqNumber(text: string): number | string {
  if (text === "*") return STAR;
  if (!/^[0-9]{1,10}$/.test(text)) return `Invalid sequence set element "${text.slice(0, 20)}"`;
  const n = Number(text);
  if (n === 0) return "Zero is not a valid message number";
  if (n > MAX_NUMBER) return "Message number beyond 2^32-1";
  return n;
}

/**
 * The set as sorted, merged, disjoint ranges within 1..largest: `*` is `largest`, `a:b` with
 * a > b is `b:a`, numbers above `largest` are dropped (so `*` in an empty mailbox yields
 * nothing). Cheap for any set, unlike {@link expandSet}.
 */
export function resolveSet(set: SequenceSet, largest: number): Array<[number, number]> {
  if (largest < 1) return [];
  const resolved: Array<[number, number]> = [];
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? largest : a0;
    const b = b0 === STAR ? largest : b0;
    const lo = Math.min(a, b);
    const hi = Math.min(Math.max(a, b), largest);
    if (lo <= hi) resolved.push([lo, hi]);
  }
  resolved.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const r of resolved) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/**
 * Every number of the set within 1..largest, sorted and unique (see {@link resolveSet}). Use it
 * for sequence numbers; for UIDs prefer `resolveSet` or `setContains`, since `1:4294967295`
 * would expand to billions of values when `largest` is a high UID.
 */
export function expandSet(set: SequenceSet, largest: number): number[] {
  const out: number[] = [];
  for (const [lo, hi] of resolveSet(set, largest)) {
    for (let n = lo; n <= hi; n++) out.push(n);
  }
  return out;
}

/** Whether `n` is in the set, with `*` as `largest` and numbers above `largest` excluded. */
export function setContains(set: SequenceSet, n: number, largest: number): boolean {
  if (n < 1 || n > largest) return false;
  for (const [a0, b0] of set.ranges) {
    const a = a0 === STAR ? largest : a0;
    const b = b0 === STAR ? largest : b0;
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true;
  }
  return false;
}

/** Formats numbers as a compact sequence set ("1:3,5"); "" for none. Order and repeats are free. */
export function formatSet(numbers: readonly number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i];
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] <= end + 1) end = sorted[++i];
    parts.push(start === end ? `${start}` : `${start}:${end}`);
    i++;
  }
  return parts.join(",");
}
