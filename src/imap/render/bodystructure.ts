/**
 * IMAP BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, §9 body) rendered from a MIME structure.
 * Pure. The output matches Dovecot's, the reference of imaptest: text parts without a charset
 * get ("charset" "us-ascii") (the RFC 2045 §5.2 default), a multipart in which no part was
 * found gets one empty text/plain part (body-type-mpart needs at least one), parameter names
 * are lower-case, a multipart without a boundary is a single part keeping its type.
 */
import { isMessagePart, isMultipart, type MimePart } from "../../mime/structure.ts";
import { renderEnvelope } from "./envelope.ts";
import { imapNString, imapString } from "./imap_string.ts";

const EMPTY_ENVELOPE = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

/**
 * BODY (`extensible` false) or BODYSTRUCTURE (`extensible` true) of a part, parentheses
 * included. An encapsulated message's envelope comes from its root's stored `header` (set by
 * buildSummary), else from `message`; with neither it throws.
 */
export function renderBodyStructure(
  part: MimePart,
  message: Uint8Array | undefined,
  extensible: boolean,
  utf8 = false,
): string {
  const out: string[] = [];
  write(part, message, extensible, utf8, out);
  return out.join("");
}

function write(
  part: MimePart,
  message: Uint8Array | undefined,
  ext: boolean,
  utf8: boolean,
  out: string[],
): void {
  const s = (text: string) => imapString(text, utf8);
  const ns = (text: string | undefined) => imapNString(text, utf8);
  out.push("(");
  if (isMultipart(part)) {
    if (part.children.length === 0) out.push(emptyPart(ext));
    for (const child of part.children) write(child, message, ext, utf8, out);
    out.push(" ", s(part.subtype));
    if (ext) out.push(" ", params(part.params, false, utf8), common(part, utf8));
    out.push(")");
    return;
  }
  const text = part.type === "text";
  out.push(
    s(part.type),
    " ",
    s(part.subtype),
    " ",
    params(part.params, text, utf8),
    " ",
    ns(part.id),
    " ",
    ns(part.description),
    " ",
    s(part.encoding),
    " ",
    String(part.bodyEnd - part.headerEnd),
  );
  if (text) {
    out.push(" ", String(part.lines));
  } else if (isMessagePart(part)) {
    const nested = part.message;
    if (nested) {
      out.push(" ", renderEnvelope(nestedHeader(nested, message), utf8), " ");
      write(nested, message, ext, utf8, out);
    } else {
      // Not parsed (too deep): still the body-type-msg shape RFC 3501 §9 requires.
      out.push(" ", EMPTY_ENVELOPE, " ", emptyPart(ext));
    }
    out.push(" ", String(part.lines));
  }
  if (ext) out.push(" ", ns(part.md5), common(part, utf8));
  out.push(")");
}

/** body-fld-dsp, body-fld-lang and body-fld-loc, each preceded by a space. */
function common(part: MimePart, utf8: boolean): string {
  const dsp = part.disposition
    ? `(${imapString(part.disposition.type, utf8)} ${params(part.disposition.params, false, utf8)})`
    : "NIL";
  const lang = part.language
    ? "(" + part.language.map((l) => imapString(l, utf8)).join(" ") + ")"
    : "NIL";
  return ` ${dsp} ${lang} ${imapNString(part.location, utf8)}`;
}

/** body-fld-param: `("name" "value" …)` or NIL; text parts always show a charset. */
function params(list: [string, string][], text: boolean, utf8: boolean): string {
  const all = text && !list.some(([name]) => name === "charset")
    ? [...list, ["charset", "us-ascii"] as [string, string]]
    : list;
  if (all.length === 0) return "NIL";
  return "(" +
    all.map(([name, value]) => `${imapString(name, utf8)} ${imapString(value, utf8)}`).join(
      " ",
    ) + ")";
}

function emptyPart(ext: boolean): string {
  return '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0' +
    (ext ? " NIL NIL NIL NIL)" : ")");
}

function nestedHeader(nested: MimePart, message: Uint8Array | undefined): Uint8Array {
  if (nested.header) return nested.header;
  if (message) return message.subarray(nested.headerStart, nested.headerEnd);
  throw new Error("renderBodyStructure: an encapsulated message needs its header or the message");
}
