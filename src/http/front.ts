/**
 * fsmtp's own listener in front of `Deno.serve`. `Deno.serve` accepts connections itself, tells
 * nothing about them and has no timeout for a request head (a half-sent head was measured still
 * open after 100 s), so a client could hold any number of connections (slowloris). This front
 * accepts them instead, through the listener the mail protocols use (`src/net/listener.ts`): the
 * same `[limits]` connection counts (per IP, total, and across the nodes with Redis), TLS with
 * the context SIGHUP renews, a deadline for the first request head (`limits.line_deadline`) and
 * an idle timeout (`limits.command_timeout`). Each accepted connection is relayed, byte for
 * byte, to `Deno.serve` on a loopback port; that inner connection's local port tells the
 * handler which client it carries ({@link HttpFront.peerOf}), so no header is added or trusted.
 */
import net, { type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { Logger } from "../log.ts";
import { countConnection } from "../metrics/metrics.ts";
import { normalizeAddress } from "../net/connection.ts";
import { type ConnectionGate, startListener } from "../net/listener.ts";

/** What a connection over the limits reads (RFC 9110 §15.6.4), then it is closed. */
const REFUSAL = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n" +
  "Connection: close\r\n\r\n";
/** The end of a request head (RFC 9112 §2.1). */
const HEAD_END = "\r\n\r\n";

/** Options of {@link startHttpFront}. */
export interface HttpFrontOptions {
  /** `http.listen`. */
  address: string;
  gate: ConnectionGate;
  /** The current TLS context, for HTTPS; plain HTTP without. */
  tls?: () => SecureContext;
  /** The loopback port `Deno.serve` listens on. */
  innerPort: number;
  /** `limits.line_deadline` and `limits.command_timeout`, read per connection. */
  timeouts(): { headMs: number; idleMs: number };
  log: Logger;
}

/** A running front. */
export interface HttpFront {
  host: string;
  port: number;
  /** The client address an inner connection from 127.0.0.1:port carries; undefined if none. */
  peerOf(innerLocalPort: number): string | undefined;
  /** Stops accepting; open connections end with their requests (see `close`). */
  stopAccepting(): void;
  /** Cuts every relayed connection. */
  close(): void;
}

/** Binds `address` and relays every admitted connection to the inner server. */
export async function startHttpFront(opts: HttpFrontOptions): Promise<HttpFront> {
  const peers = new Map<number, string>();
  const open = new Set<Socket>();
  const listener = await startListener({
    name: "http",
    key: "http.listen",
    address: opts.address,
    gate: opts.gate,
    implicitTls: opts.tls,
    refusal: REFUSAL,
    onError: (err) => opts.log.warn("http.relay.failed", { error: err.message }),
    serve: (socket) => relay(socket, opts, peers, open),
  });
  return {
    host: listener.host,
    port: listener.port,
    peerOf: (port) => peers.get(port),
    stopAccepting: () => listener.close(),
    close: () => {
      listener.close();
      for (const socket of open) socket.destroy();
    },
  };
}

/** Relays one client connection until either side closes. */
function relay(
  client: Socket,
  opts: HttpFrontOptions,
  peers: Map<number, string>,
  open: Set<Socket>,
): Promise<void> {
  const { headMs, idleMs } = opts.timeouts();
  const ip = normalizeAddress(client.remoteAddress ?? "");
  const closed = countConnection("http");
  open.add(client);
  return new Promise<void>((resolve) => {
    const inner = net.connect({
      host: "127.0.0.1",
      port: opts.innerPort,
      localAddress: "127.0.0.1",
    });
    let innerPort: number | undefined;
    // The first request head must be complete within headMs, however it trickles.
    const headTimer = setTimeout(() => finish(), headMs);
    let tail = "";
    const watchHead = (chunk: Uint8Array) => {
      // Empty lines before a request line are allowed (RFC 9112 §2.2): they do not end a head.
      tail = (tail + new TextDecoder("latin1").decode(chunk.subarray(-4096)))
        .replace(/^[\r\n]+/, "").slice(-4096);
      if (tail.includes(HEAD_END)) {
        clearTimeout(headTimer);
        client.off("data", watchHead);
      }
    };
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(headTimer);
      if (innerPort !== undefined) peers.delete(innerPort);
      open.delete(client);
      client.destroy();
      inner.destroy();
      closed();
      resolve();
    };
    client.setTimeout(idleMs, finish);
    client.on("error", finish);
    client.on("close", finish);
    inner.on("error", finish);
    inner.on("close", finish);
    inner.on("connect", () => {
      innerPort = inner.localPort;
      if (innerPort !== undefined) peers.set(innerPort, ip);
      inner.setNoDelay(true);
      // Reading starts only now: nothing the client sent before is lost.
      client.on("data", watchHead);
      client.pipe(inner);
      inner.pipe(client);
    });
  });
}
