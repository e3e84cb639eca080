/**
 * Framing of IMAP commands for fuzzing: the wire pieces of a generated command (text and
 * literals) to a {@link RawCommand}, a RawCommand to the octets a client sends, and octets back to
 * a RawCommand the way the session frames them (with `literalAtEnd`).
 */
import type { RawCommand } from "../../src/imap/parse/command.ts";
import { literalAtEnd } from "../../src/imap/parse/parse_command.ts";
import { concat, utf8 } from "./harness.ts";

/** A literal of the wire form: `{n}`, `{n+}` (RFC 7888) or `~{n}` (RFC 3516 literal8). */
export interface LiteralPiece {
  literal: Uint8Array;
  kind: "sync" | "nonsync" | "binary";
}

/** A piece of a command's wire form: text of the current line, or a literal. */
export type Piece = string | LiteralPiece;

/** Frames pieces as the session would: lines ending in the literal markers, and the literals. */
export function toRaw(pieces: Piece[]): RawCommand {
  const lines: Uint8Array[] = [];
  const literals: Uint8Array[] = [];
  let line = "";
  for (const piece of pieces) {
    if (typeof piece === "string") {
      line += piece;
      continue;
    }
    const n = piece.literal.length;
    line += piece.kind === "binary" ? `~{${n}}` : piece.kind === "nonsync" ? `{${n}+}` : `{${n}}`;
    lines.push(utf8(line));
    literals.push(piece.literal);
    line = "";
  }
  lines.push(utf8(line));
  return { lines, literals };
}

const CRLF = new Uint8Array([13, 10]);

/** The octets a client sends for a framed command, final CRLF included. */
export function toWire(raw: RawCommand): Uint8Array {
  const parts: Uint8Array[] = [];
  raw.lines.forEach((line, i) => {
    parts.push(line, CRLF);
    if (i < raw.literals.length) parts.push(raw.literals[i]);
  });
  return concat(...parts);
}

/**
 * Frames one command from wire octets as the session does: a line up to CRLF, and when it ends in
 * a literal marker, that many octets (fewer when the input ends first), then the next line.
 */
export function frame(wire: Uint8Array): RawCommand {
  const lines: Uint8Array[] = [];
  const literals: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    let end = pos;
    while (end < wire.length && !(wire[end] === 13 && wire[end + 1] === 10)) end++;
    const line = wire.subarray(pos, end);
    lines.push(line);
    const marker = end < wire.length ? literalAtEnd(line) : undefined;
    if (marker === undefined || marker === "bad") return { lines, literals };
    const start = end + 2;
    const size = Math.min(marker.size, wire.length - start);
    literals.push(wire.subarray(start, start + size));
    pos = start + size;
    if (pos >= wire.length) {
      lines.push(new Uint8Array(0));
      return { lines, literals };
    }
  }
}
