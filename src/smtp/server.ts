/**
 * The SMTP service: a listener whose connections each run an `SmtpSession`, with graceful
 * shutdown (stop accepting, let messages in flight finish, 421 the idle sessions).
 */
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import { Connection } from "../net/connection.ts";
import { type ConnectionGate, type RunningListener, startListener } from "../net/listener.ts";
import type { Logger } from "../log.ts";
import { formatReply, Replies } from "./reply.ts";
import { type SmtpPorts, SmtpSession } from "./session.ts";

/** What the SMTP service needs; `ports()` is read per connection so SIGHUP changes apply. */
export interface SmtpServiceOptions {
  name: string;
  address: string;
  gate: ConnectionGate;
  log: Logger;
  ports(): SmtpPorts;
  maxLineLength(): number;
  implicitTls?: () => SecureContext;
}

/** A running SMTP service. */
export interface SmtpService {
  listener: RunningListener;
  /** Stops accepting and ends every session; resolves when all are gone or `graceMs` passed. */
  shutdown(graceMs: number): Promise<void>;
}

let nextConnectionId = 0;

/** Starts the SMTP service on one listener. */
export async function startSmtpService(opts: SmtpServiceOptions): Promise<SmtpService> {
  const sessions = new Set<{ session: SmtpSession; done: Promise<void> }>();
  const refusal = (hostname: string) =>
    formatReply({ code: 421, enhanced: "4.7.0", text: `${hostname} Too many connections` });
  const listener = await startListener({
    name: opts.name,
    address: opts.address,
    gate: opts.gate,
    implicitTls: opts.implicitTls,
    refusal: refusal(opts.ports().hostname),
    onError: (err) => opts.log.error("smtp.session.crashed", { error: err.message }),
    serve(socket: Socket) {
      const ports = opts.ports();
      const conn = new Connection(socket, {
        maxLineLength: opts.maxLineLength(),
        timeoutMs: ports.limits.commandTimeoutMs,
      });
      const cid = (++nextConnectionId).toString(36);
      const log = opts.log.with({ cid });
      log.info("smtp.connect", {
        listener: opts.name,
        remote: `${conn.remoteAddress}:${conn.remotePort}`,
      });
      const session = new SmtpSession(conn, ports, log);
      const entry = { session, done: session.run() };
      sessions.add(entry);
      return entry.done.finally(() => sessions.delete(entry));
    },
  });
  return {
    listener,
    async shutdown(graceMs: number) {
      listener.close();
      for (const { session } of sessions) session.requestShutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...sessions].map((s) => s.done)),
        new Promise((r) => timer = setTimeout(r, graceMs)),
      ]);
      clearTimeout(timer);
      for (const { session } of sessions) {
        session.send(Replies.shuttingDown);
        session.conn.destroy();
      }
    },
  };
}
