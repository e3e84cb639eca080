/**
 * The HTTP server (`[http] listen`): `Deno.serve`, HTTPS with the configured certificate, or
 * plain HTTP when the address is loopback (behind a local reverse proxy, or for tests). One
 * route table: the API, autoconfig, /metrics and /healthz. Errors are JSON with the right
 * status; a handler that throws anything else answers 500 and is logged, never crashes.
 *
 * Clients do not reach `Deno.serve` directly: fsmtp's own listener accepts them (front.ts), so
 * the `[limits]` connection counts, a request head deadline, an idle timeout and the TLS
 * context SIGHUP renews apply as on the mail ports. `Deno.serve` itself listens on loopback.
 */
import type { SecureContext } from "node:tls";
import { parseListen } from "../config/load_config.ts";
import { metrics } from "../metrics/metrics.ts";
import type { ConnectionGate } from "../net/listener.ts";
import { StoreError } from "../store/mail_store.ts";
import { messageRoutes } from "./api_messages.ts";
import { autoconfigRoutes } from "./autoconfig_routes.ts";
import { HttpError, jsonResponse } from "./http_error.ts";
import { metricsRoutes } from "./metrics_routes.ts";
import { openApiDocument } from "./openapi.ts";
import { startHttpFront } from "./front.ts";
import type { HttpPorts } from "./ports.ts";
import { type Route, routeOrError } from "./router.ts";

/** The API's version, in the OpenAPI document. */
const API_VERSION = "1.0.0";

/** How long requests in progress may take to finish when the server stops. */
const SHUTDOWN_GRACE_MS = 30_000;

/** A running HTTP server. */
export interface HttpService {
  host: string;
  port: number;
  tls: boolean;
  shutdown(): Promise<void>;
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

/** Starts listening on `address`; TLS unless it is loopback (and `alwaysTls` is false). */
export async function startHttpServer(
  address: string,
  tls: () => SecureContext,
  alwaysTls: boolean,
  ports: HttpPorts,
  gate: ConnectionGate,
): Promise<HttpService> {
  const host = parseListen(address)!.host;
  const routes = httpRoutes(ports);
  const secure = alwaysTls || !isLoopbackHost(host);
  let peerOf: (port: number) => string | undefined = () => undefined;
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const inner = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => resolve(addr.port),
    onError: (err) => {
      ports.log.error("http.request.failed", { error: (err as Error).message });
      return new HttpError("internal_error", "the server could not do this now").response();
    },
  }, (request, info) => {
    const from = info.remoteAddr;
    const ip = from.hostname === "127.0.0.1" ? peerOf(from.port) : undefined;
    // Only the front's connections carry a client; another local process is turned away.
    if (ip === undefined) {
      return new HttpError("forbidden", `connect to ${address} (http.listen)`).response();
    }
    return handle(routes, ports, request, ip);
  });
  try {
    const front = await startHttpFront({
      address,
      gate,
      ...(secure ? { tls } : {}),
      innerPort: await listening,
      timeouts: () => ({
        headMs: ports.config().limits.line_deadline,
        idleMs: ports.config().limits.command_timeout,
      }),
      log: ports.log,
    });
    peerOf = front.peerOf;
    return {
      host: front.host,
      port: front.port,
      tls: secure,
      shutdown: async () => {
        front.stopAccepting();
        // Requests in progress finish (idle keep-alive connections are closed at once); those
        // still running after the grace are cut, which ends them.
        const cut = setTimeout(() => front.close(), SHUTDOWN_GRACE_MS);
        await inner.shutdown();
        clearTimeout(cut);
        front.close();
      },
    };
  } catch (err) {
    await inner.shutdown();
    throw err;
  }
}
