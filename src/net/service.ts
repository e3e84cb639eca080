/**
 * A protocol service: a listener whose connections each run one session, with graceful
 * shutdown (stop accepting, let work in flight finish, then end the idle sessions).
 * SMTP, POP3 and IMAP differ only in the session they create.
 */
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { Logger } from "../log.ts";
import { Connection, type ConnectionLimits } from "./connection.ts";
import { countConnection } from "../metrics/metrics.ts";
import { type ConnectionGate, type RunningListener, startListener } from "./listener.ts";

/** What a service needs from a protocol session. */
export interface Session {
  readonly conn: Connection;
  run(): Promise<void>;
  /** Ends the session: at once when idle, after the command in progress otherwise. */
  requestShutdown(): void;
}

/** Options of a service. */
export interface ServiceOptions {
  /** The `[listen]` key, e.g. "smtp" or "pop3s"; also the log prefix. */
  name: string;
  address: string;
  gate: ConnectionGate;
  log: Logger;
  implicitTls?: () => SecureContext;
  handshakeTimeoutMs?: () => number;
  /** The line a client over the connection limits gets before it is closed. */
  refusal: string;
  /** Read per connection, so SIGHUP changes apply to new sessions. */
  limits(): ConnectionLimits;
  createSession(conn: Connection, log: Logger): Session;
  /** Told of every accepted connection (collect_garbage.ts QuietCollector). */
  onConnection?: () => void;
}

/** A running service. */
export interface Service {
  listener: RunningListener;
  /** Stops accepting and ends every session; resolves when all are gone or `graceMs` passed. */
  shutdown(graceMs: number): Promise<void>;
}

let nextConnectionId = 0;

/** Binds the listener and serves connections. */
export async function startService(opts: ServiceOptions): Promise<Service> {
  const sessions = new Map<Session, Promise<void>>();
  const listener = await startListener({
    name: opts.name,
    address: opts.address,
    gate: opts.gate,
    implicitTls: opts.implicitTls,
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
    refusal: opts.refusal,
    onError: (err) => opts.log.error(`${opts.name}.session.crashed`, { error: err.message }),
    serve(socket: Socket, transport: Socket) {
      opts.onConnection?.();
      const conn = new Connection(socket, opts.limits(), transport);
      const log = opts.log.with({ cid: (++nextConnectionId).toString(36) });
      log.info(`${opts.name}.connect`, { remote: `${conn.remoteAddress}:${conn.remotePort}` });
      const session = opts.createSession(conn, log);
      const closed = countConnection(opts.name);
      const done = session.run().finally(() => (sessions.delete(session), closed()));
      sessions.set(session, done);
      return done;
    },
  });
  return {
    listener,
    async shutdown(graceMs: number) {
      listener.close();
      for (const session of sessions.keys()) session.requestShutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(sessions.values()),
        new Promise((r) => timer = setTimeout(r, graceMs)),
      ]);
      clearTimeout(timer);
      for (const session of sessions.keys()) session.conn.destroy();
    },
  };
}
