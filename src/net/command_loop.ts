/**
 * The command loop every line protocol shares (SMTP, POP3, IMAP): read a command, run it, stop
 * on hang-up, timeout, a client too slow, shutdown or too many errors. The protocol supplies
 * how a command is read (IMAP's come with literals) and its own words for each ending; the
 * loop owns the order of those steps and the graceful-shutdown rule: an idle session ends at
 * once, a busy one after its command (a message being received is finished and acknowledged
 * first).
 */
import type { Connection, ReadEnd } from "./connection.ts";
import type { LogFields } from "../log.ts";

/** What reading the next command gave. */
export type LoopInput<C> =
  | { kind: "command"; command: C }
  /** A line longer than the limit; it was discarded. */
  | { kind: "too-long" }
  /** The server is shutting down (the connection was interrupted). */
  | { kind: "interrupted" }
  /** Nothing to run: the protocol answered already (or closed the connection). */
  | { kind: "skip" }
  | ReadEnd;

/**
 * Why a session ends, when the loop ends it. "too-slow": a read was cut by the slow-client
 * rules (a command line past its deadline, message content below the minimum rate).
 */
export type LoopEnd = "timeout" | "too-slow" | "shutdown" | "errors";

/** A protocol as the loop drives it. */
export interface LoopProtocol<C> {
  read(): Promise<LoopInput<C>>;
  execute(command: C): Promise<void>;
  /** Answers an over-long line; the loop goes on unless the connection was closed. */
  tooLong(): void;
  /**
   * Says goodbye in the protocol's words and closes. For "too-slow" the connection's `tooSlow`
   * tells what was cut; a command that read the content may have answered and closed already.
   */
  end(why: LoopEnd): void;
  /** The peer hung up; the loop drops the connection after this. */
  hungUp(): void;
  /** True once the session made too many protocol errors: then it is ended. */
  tooManyErrors(): boolean;
}

/**
 * The fields of a session's `*.too_slow` log line: its state, what was being read, how many
 * octets of it had come and for how long; never the octets themselves.
 */
export function tooSlowFields(state: string, conn: Connection): LogFields {
  const cut = conn.tooSlow;
  return { state, read: cut?.read, octets: cut?.octets, ms: cut?.elapsedMs };
}

/** Runs one session's commands. */
export class CommandLoop<C> {
  #shutdown = false;
  #busy = false;

  constructor(readonly conn: Connection, readonly protocol: LoopProtocol<C>) {}

  /** True while a command runs. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Serves until the session ends one way or another. */
  async run(): Promise<void> {
    const p = this.protocol;
    for (;;) {
      if (this.#shutdown) return p.end("shutdown");
      const input = await p.read();
      switch (input.kind) {
        case "eof":
          p.hungUp();
          return this.conn.destroy();
        case "timeout":
          return p.end(this.conn.tooSlow ? "too-slow" : "timeout");
        case "interrupted":
          return p.end("shutdown");
        case "too-long":
          p.tooLong();
          break;
        case "skip":
          break;
        case "command":
          this.#busy = true;
          try {
            await p.execute(input.command);
          } finally {
            this.#busy = false;
          }
      }
      // A read inside the command (DATA, BDAT, a literal, an AUTH line) was cut for slowness:
      // the session ends however the command answered, and says so once.
      if (this.conn.tooSlow) return p.end("too-slow");
      if (this.conn.closed) return;
      if (p.tooManyErrors()) return p.end("errors");
    }
  }

  /**
   * Ends the session: at once when it waits for a command (or when `now`, for a command that
   * waits on the client itself, like IMAP IDLE), after the command in progress otherwise.
   */
  requestShutdown(now = false): void {
    this.#shutdown = true;
    if (!this.#busy || now) this.conn.interrupt();
  }
}
