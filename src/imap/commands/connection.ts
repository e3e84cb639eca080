/**
 * Commands of any state and of the Not Authenticated state (RFC 9051 §6.1, §6.2): CAPABILITY,
 * NOOP, LOGOUT, ID, ENABLE, NAMESPACE, STARTTLS, LOGIN, AUTHENTICATE, COMPRESS.
 */
import type { TlsInfo } from "../../net/connection.ts";
import { decodeSaslPlain } from "../../auth/sasl_plain.ts";
import { logLoginFailure } from "../../log.ts";
import { capabilities } from "../capabilities.ts";
import type { Completion, ImapSession } from "../session.ts";
import { ANY, AUTH, bad, no, NOT_AUTH, ok, type PartialTable } from "./spec.ts";

const MAX_LOGIN_FAILURES = 3;

/** Refuses a login without TLS unless `auth.allow_plaintext` permits it (RFC 3501 §6.2.3). */
function plaintextRefused(s: ImapSession): Completion | undefined {
  if (s.ports.plaintextAllowed(s.conn)) return undefined;
  return no("Login without TLS is disabled: use STARTTLS first, or port 993", "PRIVACYREQUIRED");
}

/** Checks the password and enters the Authenticated state (RFC 9051 §6.2.3). */
async function login(s: ImapSession, user: string, password: string): Promise<Completion> {
  const result = await s.ports.login(user, password, s.conn.remoteAddress);
  if (result === "blocked") {
    await logLoginFailure(s.log, "warn", "imap.login.blocked", user, s.ports.knownUser);
    s.closeAfter = true;
    return no("Too many failed logins from your address; try again later", "UNAVAILABLE");
  }
  if (result === "bad") {
    await logLoginFailure(s.log, "info", "imap.login.failed", user, s.ports.knownUser);
    if (++s.loginFailures >= MAX_LOGIN_FAILURES) s.closeAfter = true;
    return no("Invalid user name or password", "AUTHENTICATIONFAILED");
  }
  if (!(await s.ports.userSessions.enter(result.address))) {
    s.log.warn("imap.login.too_many_sessions", { user: result.address });
    return no("Too many sessions for this user; close some and retry", "LIMIT");
  }
  s.mail = s.ports.openMail(result);
  s.state = "authenticated";
  // RFC 9051 §5.4: once logged in, the autologout timer is at least 30 minutes.
  s.conn.limits.timeoutMs = s.ports.limits.idleTimeoutMs;
  s.log.info("imap.login", { user: result.address });
  return ok("Logged in", `CAPABILITY ${capabilities(s).join(" ")}`);
}

/** Commands of any state and of Not Authenticated. */
export const CONNECTION_COMMANDS: PartialTable<
  | "CAPABILITY"
  | "NOOP"
  | "LOGOUT"
  | "ID"
  | "ENABLE"
  | "NAMESPACE"
  | "STARTTLS"
  | "LOGIN"
  | "AUTHENTICATE"
  | "COMPRESS"
> = {
  /** RFC 9051 §6.1.1. */
  CAPABILITY: {
    states: ANY,
    handle(s) {
      s.untagged(`CAPABILITY ${capabilities(s).join(" ")}`);
      return Promise.resolve(ok("CAPABILITY completed"));
    },
  },
  /** RFC 9051 §6.1.2: also the client's way to poll for changes, so the store is asked. */
  NOOP: {
    states: ANY,
    async handle(s) {
      await s.pushUpdates(true, true);
      return ok("NOOP completed");
    },
  },
  /** RFC 9051 §6.1.3. */
  LOGOUT: {
    states: ANY,
    handle(s) {
      s.untagged(`BYE ${s.ports.hostname} logging out`);
      s.closeAfter = true;
      return Promise.resolve(ok("LOGOUT completed"));
    },
  },
  /** RFC 2971: who we are; the client's identity is logged (as data, escaped by the logger). */
  ID: {
    states: ANY,
    handle(s, cmd) {
      if (cmd.params) {
        const name = cmd.params["name"] ?? undefined;
        const version = cmd.params["version"] ?? undefined;
        s.log.info("imap.client_id", { name: name?.slice(0, 64), version: version?.slice(0, 64) });
      }
      s.untagged(`ID ("name" "fsmtp" "vendor" "fsmtp")`);
      return Promise.resolve(ok("ID completed"));
    },
  },
  /** RFC 5161 §3.1 (RFC 9051 §6.3.1): only in the Authenticated state. */
  ENABLE: {
    states: ["authenticated"],
    handle(s, cmd) {
      const done: string[] = [];
      for (const cap of cmd.capabilities) {
        if (cap === "CONDSTORE") s.enabled.condstore = true;
        else if (cap === "QRESYNC") s.enabled.qresync = s.enabled.condstore = true;
        else if (cap === "IMAP4REV2") s.enabled.rev2 = true;
        else continue;
        done.push(cap);
      }
      s.untagged(`ENABLED${done.map((c) => " " + c).join("")}`);
      return Promise.resolve(ok("ENABLE completed"));
    },
  },
  /** RFC 2342: one personal namespace, "/" between levels; no shared or other users'. */
  NAMESPACE: {
    states: AUTH,
    handle(s) {
      s.untagged(`NAMESPACE (("" "/")) NIL NIL`);
      return Promise.resolve(ok("NAMESPACE completed"));
    },
  },
  /** RFC 9051 §6.2.1: the handshake, then everything learnt before it is forgotten. */
  STARTTLS: {
    states: NOT_AUTH,
    async handle(s, cmd) {
      if (s.conn.tls) return bad("TLS is already active");
      if (!s.ports.tls) return no("TLS is not available");
      s.tagged(cmd.tag, ok("Begin TLS negotiation now"));
      const started = await s.conn.startTls(s.ports.tls, s.ports.handshakeTimeoutMs);
      if (started) {
        // Read again: the handshake set it (the check above narrowed it to undefined).
        const tls = s.conn.tls as TlsInfo | undefined;
        s.log.info("imap.tls", { protocol: tls?.protocol, cipher: tls?.cipher });
      }
      return { status: "OK", text: "", sent: true };
    },
  },
  /** RFC 9051 §6.2.3. */
  LOGIN: {
    states: NOT_AUTH,
    handle(s, cmd) {
      const refused = plaintextRefused(s);
      return refused ? Promise.resolve(refused) : login(s, cmd.user, cmd.password);
    },
  },
  /** RFC 9051 §6.2.2 with SASL PLAIN (RFC 4616) and an initial response (RFC 4959). */
  AUTHENTICATE: {
    states: NOT_AUTH,
    async handle(s, cmd) {
      if (cmd.mechanism !== "PLAIN") return no("Unsupported authentication mechanism");
      const refused = plaintextRefused(s);
      if (refused) return refused;
      let response = cmd.initialResponse;
      if (response === undefined) {
        s.conn.write("+ \r\n");
        const read = await s.conn.readLine();
        if (read.kind === "too-long") return bad("Authentication response too long");
        if (read.kind === "timeout") {
          // Cut for slowness, the command loop says BYE once this returns; idle, say it here.
          if (!s.conn.tooSlow) s.bye("Autologout; idle for too long");
          return { status: "OK", text: "", sent: true };
        }
        if (read.kind !== "line") {
          s.closeAfter = true;
          return bad("Authentication aborted");
        }
        response = new TextDecoder().decode(read.line).trim();
      }
      if (response === "*") return bad("Authentication cancelled");
      const creds = decodeSaslPlain(response === "=" ? "" : response);
      if (!creds) return bad("Malformed PLAIN response");
      return await login(s, creds.user, creds.password);
    },
  },
  /** RFC 4978: DEFLATE both ways from right after the OK. */
  COMPRESS: {
    states: AUTH,
    handle(s, cmd) {
      if (cmd.mechanism.toUpperCase() !== "DEFLATE") {
        return Promise.resolve(bad("Unknown mechanism"));
      }
      if (s.conn.compressed) {
        return Promise.resolve(no("Compression is already on", "COMPRESSIONACTIVE"));
      }
      s.tagged(cmd.tag, ok("DEFLATE active"));
      s.conn.startCompression();
      return Promise.resolve({ status: "OK", text: "", sent: true });
    },
  },
};
