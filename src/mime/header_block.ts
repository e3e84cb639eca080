/**
 * Splitting a raw header block into its fields (RFC 5322 §2.2) with exact byte ranges, and the
 * small lexical helpers every MIME header parser here shares. Pure.
 */

/** One header field: its lower-cased name and where its raw lines are. */
export interface HeaderField {
  /** Lower-cased field name. */
  name: string;
  /** First byte of the field's first line. */
  start: number;
  /** Just after the field's last line ending (its folded lines included). */
  end: number;
  /** First byte after the colon. */
  valueStart: number;
}

/**
 * The fields of a header block, in order. A field is its first line plus every following line
 * that starts with white space (RFC 5322 §2.2.3 folding). Lines without a colon are skipped;
 * the blank line ending the block ends the scan.
 */
export function headerFieldsOf(header: Uint8Array, from = 0, to = header.length): HeaderField[] {
  const out: HeaderField[] = [];
  let pos = from;
  while (pos < to) {
    if (isBlankLineAt(header, pos, to)) break;
    const start = pos;
    pos = nextLine(header, pos, to);
    while (pos < to && (header[pos] === 32 || header[pos] === 9)) pos = nextLine(header, pos, to);
    let colon = start;
    while (colon < pos && header[colon] !== 58 && header[colon] !== 10) colon++;
    if (colon >= pos || header[colon] !== 58) continue;
    const name = latin1(header.subarray(start, colon)).trim().toLowerCase();
    if (name === "") continue;
    out.push({ name, start, end: pos, valueStart: colon + 1 });
  }
  return out;
}

/** The start of the line after the one at `pos` (or `to`). */
export function nextLine(bytes: Uint8Array, pos: number, to = bytes.length): number {
  const lf = bytes.indexOf(10, pos);
  return lf < 0 || lf >= to ? to : lf + 1;
}

/** Whether the line at `pos` is empty (CRLF, or a bare LF). */
export function isBlankLineAt(bytes: Uint8Array, pos: number, to = bytes.length): boolean {
  return (pos < to && bytes[pos] === 10) ||
    (pos + 1 < to && bytes[pos] === 13 && bytes[pos + 1] === 10);
}

/**
 * A field's value as text: unfolded (each line break followed by white space removed, RFC 5322
 * §2.2.3), the final line break dropped, leading white space trimmed. Bytes are read as UTF-8
 * when they are valid UTF-8, else as Latin-1, so 8-bit values keep every byte's meaning.
 */
export function fieldValue(header: Uint8Array, field: HeaderField): string {
  const raw = decodeText(header.subarray(field.valueStart, field.end));
  return raw.replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n$/, "").replace(/^[ \t]+/, "");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes as UTF-8 when valid, else as Latin-1 (never throws). */
export function decodeText(bytes: Uint8Array): string {
  // ASCII is valid UTF-8, so the native decoder serves the common case too.
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return latin1(bytes);
  }
}

/**
 * Bytes read one character per byte (U+0000-U+00FF). Not TextDecoder("latin1"): the Encoding
 * Standard maps that label to windows-1252, which changes 0x80-0x9F.
 */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}
