/**
 * SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms: both carry the password,
 * which is what unlocks the user's keys, so challenge mechanisms that hide it are not offered.
 */
import { decodeSaslPlain } from "../auth/sasl_plain.ts";
import { logLoginFailure } from "../log.ts";
import { Replies, type Reply, reply, SmtpError } from "./reply.ts";
import type { SmtpSession } from "./session.ts";

/** Failed AUTH attempts in one session before it is closed. */
const MAX_AUTH_FAILURES = 3;

/** True when AUTH may be offered on this connection now (RFC 4954 §4: after TLS). */
export function authOffered(s: SmtpSession): boolean {
  const sub = s.ports.submission;
  return sub !== undefined && sub.plaintextAllowed(s.conn);
}

/** Handles `AUTH mechanism [initial-response]`. */
export async function authenticate(s: SmtpSession, argument: string): Promise<Reply | undefined> {
  const sub = s.ports.submission;
  if (!sub) {
    return reply(503, "5.5.1", "Authentication is not available here; use the submission port");
  }
  if (s.login) return Replies.badSequence("Already authenticated");
  if (s.state !== "ready") return Replies.badSequence("AUTH is not allowed during a transaction");
  if (!sub.plaintextAllowed(s.conn)) {
    return reply(538, "5.7.11", "Encryption required: use STARTTLS first");
  }
  const [mechanism, initial, extra] = argument.split(" ").filter((p) => p !== "");
  if (!mechanism || extra !== undefined) return Replies.syntax("Syntax: AUTH mechanism [initial]");
  let credentials: { user: string; password: string } | undefined;
  switch (mechanism.toUpperCase()) {
    case "PLAIN": {
      const response = initial ?? await challenge(s, "");
      if (response === undefined) return undefined;
      if (response === "*") return reply(501, "5.0.0", "Authentication cancelled");
      credentials = decodeSaslPlain(response === "=" ? "" : response);
      break;
    }
    case "LOGIN": {
      const user = initial ?? await challenge(s, btoa("Username:"));
      if (user === undefined) return undefined;
      if (user === "*") return reply(501, "5.0.0", "Authentication cancelled");
      const password = await challenge(s, btoa("Password:"));
      if (password === undefined) return undefined;
      if (password === "*") return reply(501, "5.0.0", "Authentication cancelled");
      const u = decodeBase64Text(user);
      const p = decodeBase64Text(password);
      credentials = u && p ? { user: u, password: p } : undefined;
      break;
    }
    default:
      return reply(504, "5.5.4", "Unrecognized authentication mechanism");
  }
  if (!credentials) return reply(501, "5.5.2", "Malformed authentication response");
  const result = await sub.login(credentials.user, credentials.password, s.conn.remoteAddress);
  if (result === "blocked") {
    await logLoginFailure(s.log, "warn", "smtp.auth.blocked", credentials.user, sub.knownUser);
    s.send(reply(421, "4.7.0", "Too many failed logins from your address; try again later"));
    s.conn.close();
    return undefined;
  }
  if (result === "bad") {
    await logLoginFailure(s.log, "info", "smtp.auth.failed", credentials.user, sub.knownUser);
    if (++s.authFailures >= MAX_AUTH_FAILURES) {
      s.send(reply(535, "5.7.8", "Authentication credentials invalid"));
      s.send(reply(421, "4.7.0", "Too many failed logins, closing connection"));
      s.conn.close();
      return undefined;
    }
    return reply(535, "5.7.8", "Authentication credentials invalid");
  }
  s.login = result;
  s.log.info("smtp.auth", { user: result.address });
  return reply(235, "2.7.0", "Authentication successful");
}

/** Sends `334 text` and reads the client's line; undefined when the session ended. */
async function challenge(s: SmtpSession, text: string): Promise<string | undefined> {
  s.send({ code: 334, text });
  const read = await s.conn.readLine();
  if (read.kind === "line") return new TextDecoder().decode(read.line).trim();
  if (read.kind === "too-long") return "";
  // Cut for slowness: the command loop says goodbye (421) once this command returns.
  if (read.kind === "timeout" && s.conn.tooSlow) return undefined;
  if (read.kind === "timeout") throw new SmtpError(Replies.timeout, true);
  s.conn.destroy();
  return undefined;
}

function decodeBase64Text(value: string): string | undefined {
  try {
    const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
