/**
 * One POP3 session (RFC 1939 §3): AUTHORIZATION, then TRANSACTION once a login opened the
 * maildrop, then UPDATE at QUIT. Commands come from the table in `commands.ts`; each declares
 * the states it is allowed in. A session that ends any other way (EOF, timeout, shutdown)
 * never enters UPDATE, so nothing is deleted.
 */
import type { SecureContext } from "node:tls";
import type { Login, LoginResult } from "../auth/authenticator.ts";
import type { Logger } from "../log.ts";
import type { Maildrop } from "../mail/maildrop.ts";
import type { Connection } from "../net/connection.ts";
import { isParseError, parsePop3Command } from "./parse_command.ts";
import { POP3_COMMANDS } from "./commands.ts";
import { CommandLoop, tooSlowFields } from "../net/command_loop.ts";

/** RFC 1939 §3 states (UPDATE is the QUIT handler itself). */
export type Pop3State = "authorization" | "transaction";

/** The ports a POP3 session needs. */
export interface Pop3Ports {
  hostname: string;
  tls: SecureContext | undefined;
  /** May this connection log in without TLS (`auth.allow_plaintext`)? */
  plaintextAllowed(conn: Connection): boolean;
  /** Checks a password; the failure delay is served inside. */
  login(address: string, password: string, ip: string): Promise<LoginResult>;
  /**
   * Whether a login name names a user here; only to choose what a failed login logs (the name,
   * or a hash of it), asked once the answer is decided. Absent: the hash is logged.
   */
  knownUser?: (name: string) => Promise<boolean>;
  openMaildrop(login: Login): Promise<Maildrop | "in-use">;
  /** Failed logins in one session before it is closed. */
  maxLoginFailures: number;
  maxErrors: number;
  handshakeTimeoutMs: number;
}

/** One session. */
export class Pop3Session {
  state: Pop3State = "authorization";
  /** The name given by USER, awaiting PASS. */
  pendingUser: string | undefined;
  drop: Maildrop | undefined;
  /** Message numbers (1-based) marked by DELE. */
  deleted = new Set<number>();
  loginFailures = 0;
  errors = 0;
  readonly #loop: CommandLoop<Uint8Array>;

  constructor(readonly conn: Connection, readonly ports: Pop3Ports, readonly log: Logger) {
    this.#loop = new CommandLoop(conn, {
      read: async () => {
        const read = await conn.readLine();
        return read.kind === "line" ? { kind: "command", command: read.line } : read;
      },
      execute: (line) => this.#execute(line),
      tooLong: () => this.err("Line too long"),
      end: (why) => {
        if (why === "too-slow") this.log.info("pop3.too_slow", tooSlowFields(this.state, conn));
        this.#closeWith(
          why === "timeout"
            ? "-ERR Autologout: idle for too long"
            : why === "too-slow"
            ? "-ERR Autologout: too slow"
            : why === "errors"
            ? "-ERR Too many errors, closing connection"
            : "-ERR [SYS/TEMP] Server shutting down",
        );
      },
      hungUp: () => this.log.info("pop3.disconnect", { state: this.state }),
      tooManyErrors: () => this.errors >= ports.maxErrors,
    });
  }

  /** Serves the connection until QUIT, EOF, timeout, too many errors or shutdown. */
  async run(): Promise<void> {
    this.ok(`${this.ports.hostname} fsmtp POP3 server ready`);
    try {
      await this.#loop.run();
    } finally {
      // Whatever ended the session, the maildrop lock is released; deletions happened only
      // if QUIT ran the UPDATE state.
      this.drop?.release();
    }
  }

  /** Ends the session at once when idle, after the command in progress otherwise. */
  requestShutdown(): void {
    this.#loop.requestShutdown();
  }

  async #execute(line: Uint8Array): Promise<void> {
    const parsed = parsePop3Command(line);
    if (isParseError(parsed)) return this.err(parsed.error);
    const spec = POP3_COMMANDS[parsed.verb];
    if (!spec.states.includes(this.state)) return this.err(spec.outOfState);
    await (spec.handle as (s: Pop3Session, c: typeof parsed) => Promise<void>)(this, parsed);
  }

  /** Sends `+OK text`. */
  ok(text: string): void {
    this.conn.write(`+OK ${text}\r\n`);
  }

  /** Sends `-ERR text` and counts an error. */
  err(text: string): void {
    this.errors++;
    this.conn.write(`-ERR ${text}\r\n`);
  }

  #closeWith(line: string): void {
    this.conn.write(line + "\r\n");
    this.conn.close();
  }
}
