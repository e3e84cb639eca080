/**
 * FETCH data items: parsing (RFC 3501 §6.4.5 / RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162
 * MODSEQ) and the names the response gives them (RFC 3501 §7.4.2).
 */
import type { FetchItem, PartialRange, Section, SimpleFetchKind } from "./command.ts";
import { fault, type Reader } from "./reader.ts";

const SIMPLE = new Set<string>([
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODYSTRUCTURE",
  "BODY",
  "UID",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
]);

// RFC 3501 §6.4.5: the macros stand alone, never inside a parenthesised list.
const MACROS: Record<string, SimpleFetchKind[]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
};

// The item name: letters, digits and dots, up to "[" or "<".
const NAME_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  NAME_CHAR[c] = /[A-Za-z0-9.]/.test(String.fromCharCode(c)) ? 1 : 0;
}
const TEXT_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) TEXT_CHAR[c] = /[A-Za-z.]/.test(String.fromCharCode(c)) ? 1 : 0;

/** The FETCH attribute argument: a macro, one item, or a parenthesised list of items. */
export function readFetchItems(r: Reader): FetchItem[] {
  if (r.peek() === 0x28) return r.list(() => readFetchItem(r), false);
  for (const [macro, kinds] of Object.entries(MACROS)) {
    if (r.keyword(macro)) return kinds.map((kind) => ({ kind }));
  }
  return [readFetchItem(r)];
}

function readFetchItem(r: Reader): FetchItem {
  const name = r.run(NAME_CHAR).toUpperCase();
  if (name === "") fault("Expected a FETCH item");
  const bracket = r.peek() === 0x5b;
  if (!bracket && SIMPLE.has(name)) return { kind: name as SimpleFetchKind };
  if (bracket && (name === "BODY" || name === "BODY.PEEK")) {
    const section = readSection(r);
    const partial = readPartial(r);
    const peek = name === "BODY.PEEK";
    return partial ? { kind: "BODY[]", section, peek, partial } : { kind: "BODY[]", section, peek };
  }
  if (bracket && (name === "BINARY" || name === "BINARY.PEEK")) {
    const part = readBinarySection(r);
    const partial = readPartial(r);
    const peek = name === "BINARY.PEEK";
    return partial ? { kind: "BINARY", part, peek, partial } : { kind: "BINARY", part, peek };
  }
  if (bracket && name === "BINARY.SIZE") return { kind: "BINARY.SIZE", part: readBinarySection(r) };
  return fault(`Unknown FETCH item ${name.slice(0, 40)}`);
}

function readPartial(r: Reader): PartialRange | undefined {
  // RFC 3501 §9 / RFC 9051 §9: "<" number "." nz-number ">"; a zero length is tolerated.
  if (!r.take(0x3c)) return undefined;
  const offset = r.number(Number.MAX_SAFE_INTEGER, "a partial offset");
  r.expect(0x2e, ". in the partial range");
  const length = r.number(Number.MAX_SAFE_INTEGER, "a partial length");
  r.expect(0x3e, "> closing the partial range");
  return { offset, length };
}

// section-part = nz-number *("." nz-number)
function readPart(r: Reader): { part: number[]; dot: boolean } {
  const part: number[] = [];
  while (r.peek() >= 0x30 && r.peek() <= 0x39) {
    part.push(r.nzNumber(0xffffffff, "a part number"));
    if (!r.take(0x2e)) return { part, dot: false };
  }
  return { part, dot: part.length > 0 };
}

function readBinarySection(r: Reader): number[] {
  r.expect(0x5b, "[");
  const { part, dot } = readPart(r);
  if (dot) fault("Expected a part number after .");
  r.expect(0x5d, "] closing the section");
  return part;
}

function readSection(r: Reader): Section {
  r.expect(0x5b, "[");
  const { part, dot } = readPart(r);
  const section: Section = { part };
  if (dot || (part.length === 0 && r.peek() !== 0x5d)) {
    const text = r.run(TEXT_CHAR).toUpperCase();
    switch (text) {
      case "HEADER":
      case "TEXT":
        section.text = text;
        break;
      case "MIME":
        // RFC 3501 §6.4.5: MIME only refers to a numbered part's own MIME header.
        if (part.length === 0) fault("MIME needs a part number");
        section.text = text;
        break;
      case "HEADER.FIELDS":
      case "HEADER.FIELDS.NOT":
        section.text = text;
        r.sp();
        section.fields = r.list(() => r.astring().toUpperCase(), false);
        break;
      default:
        fault("Invalid section text");
    }
  }
  r.expect(0x5d, "] closing the section");
  return section;
}

const FIELD_ATOM = /^[!#-'+-9;-Z^-~]+$/;

/**
 * The name a FETCH response gives the item (RFC 3501 §7.4.2): BODY.PEEK is answered as BODY,
 * a partial fetch carries only its origin (`BODY[]<0>`), header field names are upper-cased
 * atoms (quoted when they are not atoms).
 */
export function fetchItemName(item: FetchItem): string {
  switch (item.kind) {
    case "BODY[]": {
      const { part, text, fields } = item.section;
      let spec = part.join(".");
      if (text) spec += (spec ? "." : "") + text;
      if (fields) {
        const names = fields.map((f) => FIELD_ATOM.test(f) ? f : JSON.stringify(f));
        spec += ` (${names.join(" ")})`;
      }
      return `BODY[${spec}]` + (item.partial ? `<${item.partial.offset}>` : "");
    }
    case "BINARY":
      return `BINARY[${item.part.join(".")}]` + (item.partial ? `<${item.partial.offset}>` : "");
    case "BINARY.SIZE":
      return `BINARY.SIZE[${item.part.join(".")}]`;
    default:
      return item.kind;
  }
}
