/**
 * Reads the addresses of one header field (e.g. From:) out of a message's header section
 * (RFC 5322 §3.4 address lists: display names, quoted strings, comments, groups). Pure.
 */

/** The lower-cased addr-specs of every `name:` field of the header, in order. */
export function headerAddresses(message: Uint8Array, name: string): string[] {
  const out: string[] = [];
  for (const value of headerValues(message, name)) out.push(...parseAddressList(value));
  return out;
}

/** The unfolded values of every field called `name` (case-insensitive) in the header. */
export function headerValues(message: Uint8Array, name: string): string[] {
  const end = headerEnd(message);
  const text = new TextDecoder().decode(message.subarray(0, end));
  // RFC 5322 §2.2.3: unfolding removes each CRLF that is followed by white space.
  const unfolded = text.replace(/\r?\n(?=[ \t])/g, "");
  const wanted = name.toLowerCase() + ":";
  return unfolded.split(/\r?\n/)
    .filter((line) => line.toLowerCase().startsWith(wanted))
    .map((line) => line.slice(wanted.length).trim());
}

/** Offset of the blank line that ends the header section (or the whole length). */
function headerEnd(message: Uint8Array): number {
  for (let i = 0; i + 1 < message.length; i++) {
    if (message[i] !== 10) continue;
    if (message[i + 1] === 10) return i;
    if (message[i + 1] === 13 && message[i + 2] === 10) return i;
  }
  return message.length;
}

/** The addr-specs of an RFC 5322 address list, lower-cased. */
export function parseAddressList(value: string): string[] {
  const text = stripComments(value);
  const out: string[] = [];
  for (let item of splitOutsideQuotes(text, ",")) {
    // A group "name: a, b;" (§3.4): its members were split above; drop the group name.
    const colon = indexOutsideQuotes(item, ":");
    if (colon >= 0 && !item.includes("<")) item = item.slice(colon + 1);
    item = item.replace(/;\s*$/, "").trim();
    const angle = /<([^<>]*)>\s*$/.exec(item);
    // CFWS may stand around the "@" and the dots of an addr-spec (RFC 5322 §3.4.1).
    const spec = (angle ? angle[1] : item).replace(/\s+/g, "");
    if (spec.includes("@")) out.push(spec.toLowerCase());
  }
  return out;
}

function stripComments(text: string): string {
  let out = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length) {
      if (depth === 0) out += c + text[i + 1];
      i++;
    } else if (c === '"' && depth === 0) {
      quoted = !quoted;
      out += c;
    } else if (c === "(" && !quoted) {
      depth++;
    } else if (c === ")" && !quoted && depth > 0) {
      depth--;
    } else if (depth === 0) {
      out += c;
    }
  }
  return out;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let angle = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "<") angle = true;
    else if (!quoted && c === ">") angle = false;
    else if (!quoted && !angle && c === separator) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

function indexOutsideQuotes(text: string, char: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text[i] === char) return i;
  }
  return -1;
}
