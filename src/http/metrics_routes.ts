/**
 * `/metrics` (Prometheus text format 0.0.4) and `/healthz`.
 *
 * /metrics tells a stranger how busy the server is and when its queue backs up, so it is not
 * public: loopback clients (a local Prometheus or agent) may read it, others only with
 * `Authorization: Bearer <http.metrics_token>`; with no metrics_token set, nobody else.
 * /healthz answers everyone (load balancers), with the reasons of a failure only to loopback.
 */
import { gaugeFamily } from "../metrics/registry.ts";
import { registry } from "../metrics/metrics.ts";
import { sameSecret } from "./api_token.ts";
import { HttpError, jsonResponse } from "./http_error.ts";
import type { HttpPorts } from "./ports.ts";
import type { Route, RouteContext } from "./router.ts";

/** The routes. */
export function metricsRoutes(ports: HttpPorts): Route[] {
  return [
    {
      method: "GET",
      pattern: "/metrics",
      name: "metrics",
      handler: (request, ctx) => metrics(ports, request, ctx),
    },
    {
      method: "GET",
      pattern: "/healthz",
      name: "healthz",
      handler: (_, ctx) => healthz(ports, ctx),
    },
  ];
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopbackAddress(address: string): boolean {
  return /^(::ffff:)?127\./.test(address) || address === "::1";
}

async function metrics(ports: HttpPorts, request: Request, ctx: RouteContext): Promise<Response> {
  if (!isLoopbackAddress(ctx.remoteAddress)) {
    const secret = ports.config().http.metrics_token;
    const m = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "");
    if (secret === "") {
      throw new HttpError(
        "forbidden",
        "/metrics answers loopback clients only (http.metrics_token is not set)",
      );
    }
    if (!m || !sameSecret(m[1], secret)) {
      throw new HttpError("unauthorized", "send Authorization: Bearer <http.metrics_token>", {
        "www-authenticate": 'Bearer realm="fsmtp-metrics"',
      });
    }
  }
  let queue = "";
  try {
    const q = await ports.queueSummary();
    queue = gaugeFamily("fsmtp_queue_messages", "Messages in the outbound queue (fsmtp --queue).", [
      [{}, q.messages],
    ]) +
      gaugeFamily("fsmtp_queue_recipients_waiting", "Recipients waiting for delivery.", [
        [{}, q.waiting],
      ]) +
      gaugeFamily("fsmtp_queue_oldest_age_seconds", "Age of the oldest queued message.", [
        [{}, q.oldestAgeMs / 1000],
      ]);
  } catch (err) {
    ports.log.warn("http.metrics.queue_unreadable", { error: (err as Error).message });
  }
  return new Response((await registry.render()) + queue, {
    headers: {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

async function healthz(ports: HttpPorts, ctx: RouteContext): Promise<Response> {
  const checks = await ports.health();
  const ok = checks.every((c) => c.ok);
  const detailed = isLoopbackAddress(ctx.remoteAddress);
  return jsonResponse(ok ? 200 : 503, {
    status: ok ? "ok" : "failing",
    checks: Object.fromEntries(
      checks.map((c) => [c.name, detailed ? { ok: c.ok, detail: c.detail } : { ok: c.ok }]),
    ),
  });
}
