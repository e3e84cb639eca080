/**
 * Mailbox names between the wire and the store: modified UTF-7 for IMAP4rev1 clients
 * (RFC 3501 §5.1.3), UTF-8 once IMAP4rev2 or UTF8=ACCEPT is on (RFC 9051 §5.1); the store keeps
 * Unicode names with "/" between levels.
 */
import { MAILBOX_DELIMITER } from "../store/mail_store.ts";
import { encodeMutf7 } from "./parse/mutf7.ts";
import { INVALID_NAME_MARK } from "./parse/reader.ts";
import { stringOut } from "./parse/quote.ts";

/** The store's form of a name the client sent: without a trailing delimiter; INBOX upper. */
export function storeName(name: string): string {
  let n = name;
  while (n.length > 1 && n.endsWith(MAILBOX_DELIMITER)) n = n.slice(0, -1);
  if (n.toUpperCase() === "INBOX") return "INBOX";
  const upper = n.slice(0, 6).toUpperCase();
  return upper === `INBOX${MAILBOX_DELIMITER}` ? "INBOX" + n.slice(5) : n;
}

/** Why a name cannot be created, or undefined when it can (RFC 3501 §5.1). */
export function invalidName(name: string): string | undefined {
  if (name === "") return "Empty mailbox name";
  if (/[*%]/.test(name)) return "Mailbox names cannot contain * or %";
  // deno-lint-ignore no-control-regex -- control characters are what is refused.
  if (name.startsWith(INVALID_NAME_MARK)) return "Invalid mailbox name (modified UTF-7 expected)";
  if (/[\x00-\x1f\x7f]/.test(name)) return "Mailbox names cannot contain control characters";
  if (name.startsWith(MAILBOX_DELIMITER) || name.includes(MAILBOX_DELIMITER + MAILBOX_DELIMITER)) {
    return "Mailbox name has an empty level";
  }
  if (name.length > 512) return "Mailbox name too long";
  return undefined;
}

/** A name as the client should see it, ready for a response. */
export function wireName(name: string, utf8: boolean): string {
  return utf8 ? stringOut(name, true) : stringOut(encodeMutf7(name), false);
}

/** The names above `name`: "a/b/c" → ["a", "a/b"]. */
export function parentsOf(name: string): string[] {
  const levels = name.split(MAILBOX_DELIMITER);
  const out: string[] = [];
  for (let i = 1; i < levels.length; i++) out.push(levels.slice(0, i).join(MAILBOX_DELIMITER));
  return out;
}
