/**
 * IMAP ENVELOPE (RFC 3501 §7.4.2) rendered from a raw header block. Pure.
 *
 * Values are unfolded but otherwise as written: RFC 2047 encoded-words are not decoded (RFC
 * 3501 leaves that to the client). The first field of each name counts. Sender and Reply-To
 * default to From when absent or empty (RFC 3501 §7.4.2). Address quirks follow Dovecot, the
 * reference of imaptest: a comment is the display name of a bare addr-spec
 * (`user@domain (Real Name)`), and a missing local part or domain is rendered as
 * "MISSING_MAILBOX" / "MISSING_DOMAIN" rather than dropped (RFC 3501 reserves a NIL host for
 * group syntax).
 */
import { fieldValue, headerFieldsOf } from "../../mime/header_block.ts";
import { imapNString } from "./imap_string.ts";

/** The ENVELOPE list of a header block, parentheses included. */
export function renderEnvelope(header: Uint8Array, utf8: boolean): string {
  const first = new Map<string, string>();
  for (const field of headerFieldsOf(header)) {
    if (!first.has(field.name)) first.set(field.name, fieldValue(header, field).replace(/\r$/, ""));
  }
  const str = (name: string) => imapNString(first.get(name), utf8);
  const list = (name: string) => parseAddressList(first.get(name) ?? "");
  const from = list("from");
  const sender = list("sender");
  const replyTo = list("reply-to");
  const addresses = (items: Address[]) => renderAddresses(items, utf8);
  return "(" + [
    str("date"),
    str("subject"),
    addresses(from),
    addresses(sender.length > 0 ? sender : from),
    addresses(replyTo.length > 0 ? replyTo : from),
    addresses(list("to")),
    addresses(list("cc")),
    addresses(list("bcc")),
    str("in-reply-to"),
    str("message-id"),
  ].join(" ") + ")";
}

/**
 * One ENVELOPE address: a mailbox, or a group marker (start: mailbox = group name, host
 * undefined; end: all undefined), RFC 3501 §7.4.2.
 */
export interface Address {
  /** Display name. */
  name?: string;
  /** Source route (obsolete), e.g. "@relay". */
  adl?: string;
  /** Local part, or the group name of a group start. */
  mailbox?: string;
  /** Domain; undefined for group markers. */
  host?: string;
}

function renderAddresses(items: Address[], utf8: boolean): string {
  if (items.length === 0) return "NIL";
  const one = (a: Address) =>
    `(${imapNString(a.name, utf8)} ${imapNString(a.adl, utf8)} ${imapNString(a.mailbox, utf8)} ${
      imapNString(a.host, utf8)
    })`;
  return "(" + items.map(one).join("") + ")";
}

/** A lexical token; `spaced` when white space or a comment came before it. */
type Token = { kind: "word" | "special" | "comment"; text: string; spaced: boolean };

/** RFC 5322 §3.2 lexical tokens of an unfolded field value. */
function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let spaced = false;
  const push = (kind: Token["kind"], text: string) => {
    tokens.push({ kind, text, spaced });
    spaced = kind === "comment";
  };
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      spaced = true;
      i++;
    } else if (c === "(") {
      let depth = 1;
      let text = "";
      i++;
      while (i < value.length && depth > 0) {
        const d = value[i++];
        if (d === "\\" && i < value.length) {
          text += value[i++];
          continue;
        }
        if (d === "(") depth++;
        if (d === ")") depth--;
        if (depth > 0) text += d;
      }
      push("comment", text.trim());
    } else if (c === '"') {
      let text = "";
      i++;
      while (i < value.length && value[i] !== '"') {
        if (value[i] === "\\" && i + 1 < value.length) i++;
        text += value[i++];
      }
      i++;
      push("word", text);
    } else if (c === "[") {
      const end = value.indexOf("]", i);
      const stop = end < 0 ? value.length : end + 1;
      push("word", value.slice(i, stop));
      i = stop;
    } else if ("<>@,;:.".includes(c)) {
      push("special", c);
      i++;
    } else {
      const start = i;
      while (i < value.length && !' \t\r\n()"[<>@,;:.'.includes(value[i])) i++;
      push("word", value.slice(start, i));
    }
  }
  return tokens;
}

/** An RFC 5322 §3.4 address list (groups, angle addresses, obsolete routes) for ENVELOPE. */
export function parseAddressList(value: string): Address[] {
  const out: Address[] = [];
  let pending: Token[] = [];
  let inAngle = false;
  let inGroup = false;
  for (const token of tokenize(value)) {
    const t = token.kind === "special" ? token.text : "";
    if (t === "<") inAngle = true;
    else if (t === ">") inAngle = false;
    if (!inAngle && t === ":" && !inGroup && !pending.some((p) => p.text === "@")) {
      out.push({ mailbox: phrase(pending.filter((p) => p.kind !== "comment")) ?? "" });
      pending = [];
      inGroup = true;
    } else if (!inAngle && (t === "," || t === ";")) {
      flushMailbox(pending, out);
      pending = [];
      if (t === ";" && inGroup) {
        out.push({});
        inGroup = false;
      }
    } else {
      pending.push(token);
    }
  }
  flushMailbox(pending, out);
  if (inGroup) out.push({});
  return out;
}

/** Tokens joined with one space wherever white space separated them ("John Q. Public"). */
function phrase(tokens: Token[]): string | undefined {
  let out = "";
  for (const token of tokens) out += (out !== "" && token.spaced ? " " : "") + token.text;
  return out === "" ? undefined : out;
}

function flushMailbox(tokens: Token[], out: Address[]): void {
  if (tokens.length === 0) return;
  const comments = tokens.filter((t) => t.kind === "comment");
  const rest = tokens.filter((t) => t.kind !== "comment");
  if (rest.length === 0) return;
  const open = rest.findIndex((t) => t.kind === "special" && t.text === "<");
  let name: string | undefined;
  let spec: Token[];
  let adl: string | undefined;
  if (open >= 0) {
    name = phrase(rest.slice(0, open));
    let close = rest.findIndex((t, i) => i > open && t.kind === "special" && t.text === ">");
    if (close < 0) close = rest.length;
    spec = rest.slice(open + 1, close);
    // Obsolete route (RFC 5322 §4.4): "@a,@b:" before the addr-spec.
    const colon = spec.findIndex((t) => t.kind === "special" && t.text === ":");
    if (spec[0]?.text === "@" && colon > 0) {
      adl = spec.slice(0, colon).map((t) => t.text).join("");
      spec = spec.slice(colon + 1);
    }
  } else {
    spec = rest;
  }
  if (name === undefined && comments.length > 0) {
    name = comments[comments.length - 1].text || undefined;
  }
  if (open >= 0 && spec.length === 0 && name === undefined) return;
  const at = spec.map((t) => t.kind === "special" && t.text === "@").lastIndexOf(true);
  const local = at < 0 ? spec : spec.slice(0, at);
  const domain = at < 0 ? [] : spec.slice(at + 1);
  const localText = open < 0 && at < 0 ? phrase(local) : local.map((t) => t.text).join("");
  out.push({
    name,
    adl,
    mailbox: localText || "MISSING_MAILBOX",
    host: domain.map((t) => t.text).join("") || "MISSING_DOMAIN",
  });
}
