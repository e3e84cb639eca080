/**
 * One IMAP session (RFC 9051 §3, RFC 3501 §3): Not Authenticated, Authenticated, Selected,
 * Logout. Commands come from the table in `commands/table.ts`; each declares the states it is
 * allowed in. The session frames commands with their literals from the connection, hands the
 * bytes to the pure parser, runs the handler, then reports what other sessions changed in the
 * selected mailbox before the tagged completion (RFC 3501 §5.2, §7).
 */
import type { SecureContext } from "node:tls";
import type { LoginResult } from "../auth/authenticator.ts";
import type { Logger } from "../log.ts";
import type { Connection } from "../net/connection.ts";
import type { OctetBudget } from "../net/octet_budget.ts";
import { type MailStore, StoreError } from "../store/mail_store.ts";
import type { MailboxEvent } from "../store/change_feed.ts";
import type { SessionSlots } from "../store/coordinator.ts";
import { type ImapCommand, isParseFailure, type RawCommand } from "./parse/command.ts";
import { literalAtEnd, parseCommand } from "./parse/parse_command.ts";
import type { SelectedMailbox, ViewUpdate } from "./selected_mailbox.ts";
import type { UserMail } from "./user_mail.ts";
import type { Chunk } from "./format.ts";
import { capabilities } from "./capabilities.ts";
import { IMAP_COMMANDS } from "./commands/table.ts";
import { renderUpdate } from "./updates.ts";
import { CommandLoop, tooSlowFields } from "../net/command_loop.ts";

/** RFC 3501 §3 states (Logout is the end of `run`). */
export type ImapState = "not-authenticated" | "authenticated" | "selected";

/** How a command ended: the tagged response (RFC 3501 §7.1). */
export interface Completion {
  status: "OK" | "NO" | "BAD";
  /** A response code without brackets, e.g. "TRYCREATE". */
  code?: string;
  text: string;
  /** The handler wrote the completion itself (STARTTLS must, before the handshake). */
  sent?: boolean;
}

/** Limits of an IMAP session, read from the config when it starts. */
export interface ImapLimits {
  /** Largest APPEND literal (APPENDLIMIT, RFC 7889) = the message size limit. */
  maxMessageSize: number;
  /** Largest literal in any other command. */
  maxLiteral: number;
  maxErrors: number;
  /** Idle time before login. */
  preLoginTimeoutMs: number;
  /** Idle time once logged in: at least 30 minutes (RFC 9051 §5.4). */
  idleTimeoutMs: number;
  /** Octets a user may store; 0 = no quota (RFC 9208). */
  quotaOctets: number;
}

/** Sessions per user, counted across the process, or across the nodes on one coordinator. */
export type UserSessions = SessionSlots;

/** The ports an IMAP session needs. */
export interface ImapPorts {
  hostname: string;
  tls: SecureContext | undefined;
  store: MailStore;
  /** May this connection log in without TLS (`auth.allow_plaintext`)? */
  plaintextAllowed(conn: Connection): boolean;
  /** Checks a password; the failure delay is served inside. */
  login(address: string, password: string, ip: string): Promise<LoginResult>;
  /**
   * Whether a login name names a user here; only to choose what a failed login logs (the name,
   * or a hash of it), asked once the answer is decided. Absent: the hash is logged.
   */
  knownUser?: (name: string) => Promise<boolean>;
  openMail(login: Exclude<LoginResult, "bad" | "blocked">): UserMail;
  userSessions: UserSessions;
  memory: OctetBudget;
  limits: ImapLimits;
  handshakeTimeoutMs: number;
}

/** Capabilities a client turned on with ENABLE (RFC 5161) or by use (CONDSTORE). */
export interface Enabled {
  condstore: boolean;
  qresync: boolean;
  rev2: boolean;
  utf8: boolean;
}

/** One session. */
export class ImapSession {
  state: ImapState = "not-authenticated";
  mail: UserMail | undefined;
  selected: SelectedMailbox | undefined;
  enabled: Enabled = { condstore: false, qresync: false, rev2: false, utf8: false };
  loginFailures = 0;
  errors = 0;
  /** Close the connection once the completion is written (LOGOUT, repeated failed logins). */
  closeAfter = false;
  /** Set by the change feed: the selected mailbox changed and the view should pull. */
  dirty = false;
  #unsubscribe: (() => void) | undefined;
  readonly #loop: CommandLoop<RawCommand>;
  #idleWake: (() => void) | undefined;
  #idling = false;

  constructor(readonly conn: Connection, readonly ports: ImapPorts, readonly log: Logger) {
    conn.limits.timeoutMs = ports.limits.preLoginTimeoutMs;
    this.#loop = new CommandLoop<RawCommand>(conn, {
      read: async () => {
        const read = await this.#readCommand();
        if (read === "handled" || read === "closed") return { kind: "skip" };
        if (typeof read === "string") return { kind: read };
        return { kind: "command", command: read };
      },
      execute: (raw) => this.#execute(raw),
      // #readCommand answers over-long lines itself (with BYE: a literal may follow them).
      tooLong: () => {},
      end: (why) => {
        if (why === "too-slow") this.log.info("imap.too_slow", tooSlowFields(this.state, conn));
        this.bye(
          why === "timeout"
            ? "Autologout; idle for too long"
            : why === "too-slow"
            ? "Autologout; too slow"
            : why === "errors"
            ? "Too many errors"
            : "Server shutting down",
        );
      },
      hungUp: () => this.log.info("imap.disconnect", { state: this.state }),
      tooManyErrors: () => this.errors >= ports.limits.maxErrors,
    });
  }

  /** True when mailbox names and quoted strings are UTF-8 (RFC 9051, RFC 6855). */
  get utf8(): boolean {
    return this.enabled.rev2 || this.enabled.utf8;
  }

  /** Serves the connection until LOGOUT, EOF, timeout, too many errors or shutdown. */
  async run(): Promise<void> {
    this.untagged(`OK [CAPABILITY ${capabilities(this).join(" ")}] ${this.ports.hostname} ready`);
    try {
      await this.#loop.run();
    } finally {
      this.deselect();
      if (this.mail) {
        this.ports.userSessions.leave(this.mail.address);
        this.mail.close();
      }
    }
  }

  /** Ends the session: at once when idle or in IDLE, after the command in progress otherwise. */
  requestShutdown(): void {
    this.#loop.requestShutdown(this.#idling);
    this.#idleWake?.();
  }

  /**
   * Reads one command with its literals (RFC 3501 §4.3, RFC 7888 LITERAL+): a synchronising
   * literal is invited with "+", a non-synchronising one follows at once. A literal larger
   * than allowed refuses the command; a non-synchronising one cannot be skipped safely, so the
   * connection is closed (RFC 7888 §4).
   */
  async #readCommand(): Promise<
    RawCommand | "eof" | "timeout" | "interrupted" | "handled" | "closed"
  > {
    const raw: RawCommand = { lines: [], literals: [] };
    let reserved = 0;
    try {
      for (;;) {
        const read = await this.conn.readLine();
        if (read.kind === "too-long") {
          this.bye("Command line too long");
          return "closed";
        }
        if (read.kind !== "line") return read.kind;
        raw.lines.push(read.line);
        const marker = literalAtEnd(read.line);
        if (marker === undefined) {
          // Handed over with the command: the APPEND handler gives the octets back.
          if (reserved > 0) this.appendReservation = reserved;
          reserved = 0;
          return raw;
        }
        const tag = tagOf(raw.lines[0]);
        if (marker === "bad") {
          this.bye("Malformed literal");
          return "closed";
        }
        const limit = isAppend(raw.lines[0])
          ? this.ports.limits.maxMessageSize
          : this.ports.limits.maxLiteral;
        const fits = marker.size <= limit && this.ports.memory.take(marker.size);
        if (!fits) {
          if (!marker.sync) {
            this.bye("Literal too large");
            return "closed";
          }
          const why = marker.size <= limit ? "Server busy, try again later" : "Literal too large";
          this.tagged(tag, { status: "NO", code: "TOOBIG", text: why });
          this.errors++;
          return "handled";
        }
        reserved += marker.size;
        if (marker.sync) {
          this.conn.write("+ Ready for literal data\r\n");
          this.conn.flush();
        }
        const data = await this.conn.readExact(marker.size, true);
        if (!(data instanceof Uint8Array)) return data.kind;
        raw.literals.push(data);
      }
    } finally {
      if (reserved > 0) this.ports.memory.give(reserved);
    }
  }

  /** Octets of the memory budget held by the command being run (an APPEND literal). */
  appendReservation = 0;

  async #execute(raw: RawCommand): Promise<void> {
    const parsed = parseCommand(raw, { utf8: this.utf8 });
    try {
      if (isParseFailure(parsed)) {
        this.errors++;
        this.conn.write(`${parsed.tag ?? "*"} BAD ${parsed.message}\r\n`);
        return;
      }
      const spec = IMAP_COMMANDS[parsed.name];
      if (!spec.states.includes(this.state)) {
        this.errors++;
        this.tagged(parsed.tag, { status: "BAD", text: outOfState(this.state) });
        return;
      }
      let done: Completion | undefined;
      try {
        done = await (spec.handle as (s: ImapSession, c: ImapCommand) => Promise<Completion>)(
          this,
          parsed,
        );
      } catch (err) {
        const unavailable = err instanceof StoreError &&
          (err.code === "unavailable" || err.code === "conflict");
        this.log[unavailable ? "warn" : "error"]("imap.command.failed", {
          command: parsed.name,
          error: (err as Error).message,
        });
        // RFC 5530 UNAVAILABLE: the store cannot answer now; the client tries again later.
        done = unavailable
          ? { status: "NO", code: "UNAVAILABLE", text: "Mail store unavailable; try again later" }
          : { status: "NO", code: "SERVERBUG", text: "Internal error; try again later" };
      }
      if (this.conn.closed || done.sent) return;
      if (done.status === "BAD") this.errors++;
      // Updates from other sessions go before the completion (RFC 3501 §7); expunges only when
      // sequence numbers may change (§7.4.1).
      if (!this.closeAfter) await this.pushUpdates(expungeAllowed(parsed));
      this.tagged(parsed.tag, done);
      if (this.closeAfter) this.conn.close();
    } finally {
      if (this.appendReservation > 0) {
        this.ports.memory.give(this.appendReservation);
        this.appendReservation = 0;
      }
    }
  }

  /**
   * Turns CONDSTORE on by use (RFC 7162 §3.1): the first time, a selected mailbox's
   * HIGHESTMODSEQ is reported so the client has a starting point.
   */
  enableCondstore(): void {
    if (this.enabled.condstore) return;
    this.enabled.condstore = true;
    if (this.selected) this.untagged(`OK [HIGHESTMODSEQ ${this.selected.syncedModSeq}] Highest`);
  }

  /** Selects `box` (already built) and listens for its changes. */
  select(view: SelectedMailbox): void {
    this.deselect();
    this.selected = view;
    this.state = "selected";
    this.dirty = false;
    this.#unsubscribe = this.ports.store.changes.subscribe(view.id, (e) => this.#onChange(e));
  }

  /** Leaves the Selected state. */
  deselect(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.selected) {
      this.selected = undefined;
      this.state = "authenticated";
    }
  }

  #onChange(_event: MailboxEvent): void {
    this.dirty = true;
    this.#idleWake?.();
  }

  /**
   * Pulls the selected mailbox's changes and writes the untagged responses they call for.
   * With `force`, asks the store even without a change event (NOOP, CHECK, IDLE start), so
   * changes made by another process are seen too.
   */
  async pushUpdates(allowExpunge: boolean, force = false): Promise<void> {
    const view = this.selected;
    if (!view) return;
    let updates: ViewUpdate[] = [];
    if (this.dirty || force) {
      this.dirty = false;
      const changes = await this.ports.store.changesSince(view.id, view.syncedModSeq);
      if (this.selected !== view) return;
      updates = view.apply(changes, allowExpunge);
    } else if (allowExpunge) {
      updates = view.flushExpunges();
    }
    this.writeUpdates(updates);
  }

  /** Writes view updates as untagged responses. */
  writeUpdates(updates: readonly ViewUpdate[]): void {
    const view = this.selected;
    if (!view || updates.length === 0) return;
    const vanished: number[] = [];
    for (const update of updates) {
      if (update.kind === "expunge" && this.enabled.qresync) {
        vanished.push(update.uid);
        continue;
      }
      if (update.kind === "recent" && this.enabled.rev2) continue;
      this.conn.write(renderUpdate(update, view, this));
    }
    if (vanished.length > 0) {
      this.conn.write(renderUpdate({ kind: "vanished", uids: vanished }, view, this));
    }
  }

  /**
   * Waits in IDLE (RFC 2177) until the client sends DONE: changes are pushed as they happen.
   * Returns the line that ended the wait, or why it ended otherwise.
   */
  async idle(): Promise<"done" | "bad" | "eof" | "timeout" | "interrupted"> {
    let reading = true;
    this.#idling = true;
    this.mail?.forgetBodies();
    const push = async () => {
      while (reading) {
        await new Promise<void>((resolve) => this.#idleWake = resolve);
        this.#idleWake = undefined;
        if (!reading) break;
        await this.pushUpdates(true);
        this.conn.flush();
      }
    };
    const pusher = push();
    await this.pushUpdates(true, true);
    this.conn.flush();
    try {
      const read = await this.conn.readLine();
      if (read.kind === "line") {
        const text = new TextDecoder().decode(read.line).trim().toUpperCase();
        return text === "DONE" ? "done" : "bad";
      }
      return read.kind === "too-long" ? "bad" : read.kind;
    } finally {
      reading = false;
      this.#idling = false;
      this.#idleWake?.();
      await pusher;
    }
  }

  /** Writes an untagged response line (`* text`). */
  untagged(text: string): void {
    this.conn.write(`* ${text}\r\n`);
  }

  /** Writes response chunks as they are (text and literals). */
  write(chunks: readonly Chunk[]): void {
    for (const chunk of chunks) this.conn.write(chunk);
  }

  /** Writes a tagged completion. */
  tagged(tag: string, done: Completion): void {
    const code = done.code ? `[${done.code}] ` : "";
    this.conn.write(`${tag} ${done.status} ${code}${done.text}\r\n`);
  }

  /** Sends BYE and closes (RFC 3501 §7.1.5). */
  bye(text: string): void {
    this.conn.write(`* BYE ${text}\r\n`);
    this.conn.close();
  }
}

function outOfState(state: ImapState): string {
  if (state === "not-authenticated") return "Log in first";
  if (state === "authenticated") return "Select a mailbox first";
  return "Command not valid in this state";
}

/**
 * FETCH, STORE and SEARCH by sequence number may not see expunges (RFC 3501 §7.4.1); SORT and
 * THREAD answer like SEARCH (RFC 5256 §4).
 */
function expungeAllowed(cmd: ImapCommand): boolean {
  switch (cmd.name) {
    case "FETCH":
    case "STORE":
    case "SEARCH":
    case "SORT":
    case "THREAD":
      return cmd.uid;
    default:
      return true;
  }
}

const SPACE = 0x20;

/** The tag of a command line, for replies to a command that never got parsed. */
function tagOf(line: Uint8Array): string {
  const end = line.indexOf(SPACE);
  const tag = new TextDecoder().decode(end < 0 ? line : line.subarray(0, end));
  return /^[\x21-\x7e]{1,64}$/.test(tag) && !tag.includes("+") ? tag : "*";
}

/** Whether a command's first line is an APPEND, whose literal may be a whole message. */
function isAppend(line: Uint8Array): boolean {
  const words = new TextDecoder().decode(line.subarray(0, 80)).split(" ");
  return words[1]?.toUpperCase() === "APPEND";
}
