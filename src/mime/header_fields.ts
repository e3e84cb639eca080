/**
 * Header-section surgery on raw messages: dropping whole fields (with their folded lines)
 * without touching anything else, so a message stays byte-identical apart from the change.
 */

/** Octets of the header section up to its last field's line end (the blank line excluded). */
function headerLength(message: Uint8Array): number {
  if (message[0] === 10 || (message[0] === 13 && message[1] === 10)) return 0;
  for (let i = message.indexOf(10); i >= 0; i = message.indexOf(10, i + 1)) {
    const next = message[i + 1] === 13 ? i + 2 : i + 1;
    if (message[next] === 10) return i + 1;
  }
  return message.length;
}

/**
 * `message` without the header fields for which `drop(name, value)` is true. `name` is
 * lower-cased; `value` is the raw (still folded) text after the colon.
 */
export function removeHeaderFields(
  message: Uint8Array,
  drop: (name: string, value: string) => boolean,
): Uint8Array {
  // Only the header section is decoded: a message may be tens of megabytes.
  const header = new TextDecoder("latin1").decode(message.subarray(0, headerLength(message)));
  // A field is its first line plus every following line that starts with white space.
  const fields = header.match(/[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n?/g) ?? [];
  let removed = 0;
  const ranges: [number, number][] = [];
  let at = 0;
  for (const field of fields) {
    if (field === "") continue;
    const colon = field.indexOf(":");
    if (colon > 0 && drop(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1))) {
      ranges.push([at, at + field.length]);
      removed += field.length;
    }
    at += field.length;
  }
  if (removed === 0) return message;
  const out = new Uint8Array(message.length - removed);
  let from = 0;
  let to = 0;
  for (const [start, stop] of ranges) {
    out.set(message.subarray(from, start), to);
    to += start - from;
    from = stop;
  }
  out.set(message.subarray(from), to);
  return out;
}
