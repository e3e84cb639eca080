/**
 * The HTTP server (`[http] listen`): `Deno.serve`, HTTPS with the configured certificate, or
 * plain HTTP when the address is loopback (behind a local reverse proxy, or for tests). One
 * route table: the API, autoconfig, /metrics and /healthz. Errors are JSON with the right
 * status; a handler that throws anything else answers 500 and is logged, never crashes.
 */
import { parseListen } from "../config/load_config.ts";
import { metrics } from "../metrics/metrics.ts";
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
export function startHttpServer(
  address: string,
  tls: () => { cert: string; key: string },
  alwaysTls: boolean,
  ports: HttpPorts,
): Promise<HttpService> {
  const where = parseListen(address)!;
  const routes = httpRoutes(ports);
  const secure = alwaysTls || !isLoopbackHost(where.host);
  const { promise, resolve, reject } = Promise.withResolvers<HttpService>();
  try {
    const server = Deno.serve({
      hostname: where.host,
      port: where.port,
      ...(secure ? tls() : {}),
      onListen: (addr) =>
        resolve({
          host: where.host,
          port: addr.port,
          tls: secure,
          shutdown: () => server.shutdown(),
        }),
      onError: (err) => {
        ports.log.error("http.request.failed", { error: (err as Error).message });
        return new HttpError("internal_error", "the server could not do this now").response();
      },
    }, (request, info) => handle(routes, ports, request, info.remoteAddr.hostname));
  } catch (err) {
    reject(new Error(`cannot listen on ${address} (http.listen): ${(err as Error).message}`));
  }
  return promise;
}
