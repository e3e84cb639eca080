/**
 * The CAPABILITY list (RFC 3501 §7.2.1, RFC 9051 §7.2.2): what this session may use now.
 * Only what is implemented is advertised.
 */
import type { ImapSession } from "./session.ts";

/** Extensions offered once logged in (and before, since clients cache the first list). */
const EXTENSIONS = [
  "LITERAL+", // RFC 7888
  "SASL-IR", // RFC 4959
  "ID", // RFC 2971
  "ENABLE", // RFC 5161
  "IDLE", // RFC 2177
  "NAMESPACE", // RFC 2342
  "UNSELECT", // RFC 3691
  "UIDPLUS", // RFC 4315
  "MOVE", // RFC 6851
  "CHILDREN", // RFC 3348
  "LIST-EXTENDED", // RFC 5258
  "LIST-STATUS", // RFC 5819
  "SPECIAL-USE", // RFC 6154
  "CREATE-SPECIAL-USE", // RFC 6154 §3
  "ESEARCH", // RFC 4731
  "CONDSTORE", // RFC 7162
  "QRESYNC", // RFC 7162
  "COMPRESS=DEFLATE", // RFC 4978
  "BINARY", // RFC 3516
  "STATUS=SIZE", // RFC 8438
  "SORT", // RFC 5256
  "SORT=DISPLAY", // RFC 5957
  "ESORT", // RFC 5267 §3
  "THREAD=ORDEREDSUBJECT", // RFC 5256
  "THREAD=REFERENCES", // RFC 5256
  "MULTIAPPEND", // RFC 3502
];

/** The capabilities of `s` in its current state. */
export function capabilities(s: ImapSession): string[] {
  const caps = ["IMAP4rev1", "IMAP4rev2", ...EXTENSIONS];
  caps.push(`APPENDLIMIT=${s.ports.limits.maxMessageSize}`); // RFC 7889
  if (s.ports.limits.quotaOctets > 0) caps.push("QUOTA", "QUOTA=RES-STORAGE"); // RFC 9208
  if (s.state === "not-authenticated") {
    if (s.ports.tls && !s.conn.tls) caps.push("STARTTLS");
    // RFC 3501 §6.2.3: LOGINDISABLED where a login would be refused; AUTH= likewise.
    if (s.ports.plaintextAllowed(s.conn)) caps.push("AUTH=PLAIN");
    else caps.push("LOGINDISABLED");
  }
  return caps;
}
