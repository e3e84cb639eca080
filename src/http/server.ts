/**
 * The HTTP server (`[http] listen`): `Deno.serve`, HTTPS with the configured certificate, or
 * plain HTTP when the address is loopback (behind a local reverse proxy, or for tests). One
 * route table: the API, autoconfig, /metrics and /healthz. Errors are JSON with the right
 * status; a handler that throws anything else answers 500 and is logged, never crashes.
 *
 * Limits: `Deno.serve` accepts connections itself and tells nothing about them (no accept
 * hook, no connection count, and it cannot serve a listener of ours), so `[limits]`
 * `max_connections` and `max_connections_per_ip` count requests in progress here: one over the
 * per-IP count gets 429, one over the total 503, both with Retry-After, before any work. Idle
 * keep-alive connections and request heads still being sent are not counted, and
 * `Deno.serve` has no timeout for a request head (a partial head was measured still open after
 * 100 s): slowloris resistance needs a reverse proxy in front (README) until fsmtp accepts
 * HTTP connections itself. The certificate is re-read on SIGHUP by {@link HttpService.reloadTls}.
 */
import { parseListen } from "../config/load_config.ts";
import { metrics } from "../metrics/metrics.ts";
import { normalizeAddress } from "../net/connection.ts";
import { ConnectionGate } from "../net/listener.ts";
import { StoreError } from "../store/mail_store.ts";
import { messageRoutes } from "./api_messages.ts";
import { autoconfigRoutes } from "./autoconfig_routes.ts";
import { HttpError, jsonResponse } from "./http_error.ts";
import { metricsRoutes } from "./metrics_routes.ts";
import { openApiDocument } from "./openapi.ts";
import type { HttpPorts } from "./ports.ts";
import { type Route, routeOrError } from "./router.ts";

/** The API's version, in the OpenAPI document. */
const API_VERSION = "1.0.0";

/** A running HTTP server. */
export interface HttpService {
  host: string;
  port: number;
  tls: boolean;
  /**
   * Reads the certificate and key again; when they changed (and work: tried on a throw-away
   * listener first), the old server stops accepting and finishes its requests while a new one
   * with them binds the port. Connections arriving in the millisecond between are refused:
   * SO_REUSEPORT, which would let both hold the port, is still unstable for TLS in Deno 2.9.
   * Rejects, keeping the old server, when the files are bad.
   */
  reloadTls(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The certificate and key, PEM. */
export interface TlsPem {
  cert: string;
  key: string;
}

/** True for addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  return /^127\./.test(host) || host === "::1" || host === "localhost";
}

/** Every route. */
export function httpRoutes(ports: HttpPorts): Route[] {
  return [
    ...messageRoutes(ports),
    {
      method: "GET",
      pattern: "/api/v1/openapi.json",
      name: "openapi",
      handler: () => jsonResponse(200, openApiDocument(ports.config().hostname, API_VERSION)),
    },
    ...autoconfigRoutes(ports),
    ...metricsRoutes(ports),
  ];
}

/** Answers one request through the table. */
export async function handle(
  routes: readonly Route[],
  ports: HttpPorts,
  request: Request,
  remoteAddress: string,
): Promise<Response> {
  const url = new URL(request.url);
  let name = "unknown";
  let response: Response;
  try {
    const { route, params } = routeOrError(routes, request.method, url.pathname);
    name = route.name;
    response = await route.handler(request, { params, url, remoteAddress });
  } catch (err) {
    if (err instanceof HttpError) response = err.response();
    else if (err instanceof StoreError && err.code === "unavailable") {
      // The store (Cassandra) has too few replicas now: worth a retry, not a 500.
      ports.log.warn("http.store_unavailable", { route: name, error: err.message });
      response = new HttpError("unavailable", "the store cannot be reached now; retry later", {
        "retry-after": "30",
      }).response();
    } else {
      ports.log.error("http.request.failed", {
        route: name,
        error: (err as Error).message,
      });
      response = new HttpError("internal_error", "the server could not do this now").response();
    }
  }
  metrics.httpRequests.inc({ route: name, status: String(response.status) });
  ports.log.info("http.request", {
    method: request.method,
    route: name,
    status: response.status,
    remote: remoteAddress,
  });
  return response;
}

/** Requests in progress, per client address and in total, within `[limits]`. */
export class RequestGate {
  readonly #gate: ConnectionGate;

  constructor(private readonly limits: () => { total: number; perIp: number }) {
    this.#gate = new ConnectionGate({ maxConnections: 0, maxConnectionsPerIp: 0 });
  }

  /** Answers `serve()` for the request of `ip`, or 429/503 when a limit is reached. */
  async admit(ip: string, serve: () => Promise<Response>): Promise<Response> {
    const { total, perIp } = this.limits();
    this.#gate.limits = { maxConnections: total, maxConnectionsPerIp: perIp };
    if (!this.#gate.enter(ip)) {
      const full = this.#gate.total >= total;
      metrics.httpRequests.inc({ route: "refused", status: full ? "503" : "429" });
      return new HttpError(
        full ? "unavailable" : "rate_limited",
        full
          ? "the server is answering too many requests; retry shortly"
          : "too many requests from your address at once; retry when one is answered",
        { "retry-after": "1" },
      ).response();
    }
    try {
      return await serve();
    } finally {
      this.#gate.leave(ip);
    }
  }
}

/** How long a certificate reload waits for the old server to let go of the port. */
const REBIND_WAIT_MS = 10_000;

/** Retries `bind` while the port is still held (the old server closes it asynchronously). */
async function rebind<T>(bind: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + REBIND_WAIT_MS;
  for (;;) {
    try {
      return await bind();
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Binds `Deno.serve` to host:port; resolves once it listens, rejects naming the key. */
function serveOn(
  host: string,
  port: number,
  pem: TlsPem | undefined,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  onError: (err: unknown) => Response,
): Promise<{ server: Deno.HttpServer<Deno.NetAddr>; port: number }> {
  const { promise, resolve, reject } = Promise.withResolvers<
    { server: Deno.HttpServer<Deno.NetAddr>; port: number }
  >();
  try {
    const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
      hostname: host,
      port,
      ...(pem ?? {}),
      // Called from inside Deno.serve, before `server` is assigned: resolve just after.
      onListen: (addr) => queueMicrotask(() => resolve({ server, port: addr.port })),
      onError,
    }, handler);
  } catch (err) {
    reject(err);
  }
  return promise;
}

/** Starts listening on `address`; TLS unless it is loopback (and `alwaysTls` is false). */
export async function startHttpServer(
  address: string,
  tls: () => TlsPem,
  alwaysTls: boolean,
  ports: HttpPorts,
): Promise<HttpService> {
  const where = parseListen(address)!;
  const routes = httpRoutes(ports);
  const secure = alwaysTls || !isLoopbackHost(where.host);
  const gate = new RequestGate(() => ({
    total: ports.config().limits.max_connections,
    perIp: ports.config().limits.max_connections_per_ip,
  }));
  const handler = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
    const ip = normalizeAddress(info.remoteAddr.hostname);
    return gate.admit(ip, () => handle(routes, ports, request, ip));
  };
  const onError = (err: unknown) => {
    ports.log.error("http.request.failed", { error: (err as Error).message });
    return new HttpError("internal_error", "the server could not do this now").response();
  };
  let pem = secure ? tls() : undefined;
  let port = where.port;
  let current: { server: Deno.HttpServer<Deno.NetAddr>; port: number };
  try {
    current = await serveOn(where.host, port, pem, handler, onError);
    port = current.port;
  } catch (err) {
    throw new Error(`cannot listen on ${address} (http.listen): ${(err as Error).message}`);
  }
  let reloading = Promise.resolve();
  const draining = new Set<Promise<void>>();
  const reloadTls = () => {
    // One at a time; a failed reload leaves the old server and does not block the next.
    reloading = reloading.catch(() => {}).then(async () => {
      if (!secure) return;
      const next = tls();
      if (next.cert === pem!.cert && next.key === pem!.key) return;
      Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...next }).close();
      // In-flight requests of the old server finish; it accepts no more.
      const drained = current.server.shutdown().catch(() => {});
      draining.add(drained);
      drained.finally(() => draining.delete(drained));
      current = await rebind(() => serveOn(where.host, port, next, handler, onError));
      pem = next;
      ports.log.info("http.tls.reloaded", { port });
    });
    return reloading;
  };
  return {
    host: where.host,
    port,
    tls: secure,
    reloadTls,
    shutdown: async () => {
      await reloading.catch(() => {});
      await Promise.all([current.server.shutdown(), ...draining]);
    },
  };
}
