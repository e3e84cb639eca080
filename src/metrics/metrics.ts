/**
 * fsmtp's metrics, one registry per process, served at `/metrics` (src/http/). The protocol
 * code counts through the named instruments below (one-line hooks); the queue's size and age
 * are read at scrape time from the queue itself (see `src/http/metrics_routes.ts`), the same
 * figures `fsmtp --queue` prints.
 */
import { Registry } from "./registry.ts";

/** Seconds: from a millisecond to a minute, for store operations. */
const STORE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Seconds from acceptance to the remote's 250: from a second to two days. */
const DELIVERY_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 2 * 86_400];

/** The process's registry. */
export const registry = new Registry();

/** The instruments. */
export const metrics = {
  connections: registry.counter(
    "fsmtp_connections_total",
    "Connections accepted, by listener (smtp, submission, submissions, pop3, pop3s, imap, imaps).",
  ),
  connectionsOpen: registry.gauge(
    "fsmtp_connections_open",
    "Connections open now, by listener.",
  ),
  messagesReceived: registry.counter(
    "fsmtp_messages_received_total",
    "Messages accepted, by way in (smtp: the MX; submission; http: the API).",
  ),
  messagesSent: registry.counter(
    "fsmtp_messages_sent_total",
    "Recipients delivered to remote servers by the outbound queue.",
  ),
  messagesDeferred: registry.counter(
    "fsmtp_messages_deferred_total",
    "Delivery attempts to remote recipients that failed temporarily.",
  ),
  messagesBounced: registry.counter(
    "fsmtp_messages_bounced_total",
    "Remote recipients that failed for good (a DSN goes to the sender when one is owed).",
  ),
  deliveryLatency: registry.histogram(
    "fsmtp_delivery_latency_seconds",
    "Time from acceptance to delivery at the remote server, per delivered recipient.",
    DELIVERY_BUCKETS,
  ),
  authFailures: registry.counter(
    "fsmtp_auth_failures_total",
    "Failed logins, by mechanism (password: SMTP/POP3/IMAP; api_token: the HTTP API).",
  ),
  storeLatency: registry.histogram(
    "fsmtp_store_operation_duration_seconds",
    "Duration of mail store operations, by operation.",
    STORE_BUCKETS,
  ),
  httpRequests: registry.counter(
    "fsmtp_http_requests_total",
    "HTTP requests answered, by route and status code.",
  ),
};

// Families without labels show 0 from the start, so a rate over them needs no first event.
for (const counter of [metrics.messagesSent, metrics.messagesDeferred, metrics.messagesBounced]) {
  counter.inc({}, 0);
}

/** Counts one queue outcome of a remote recipient; `ageMs` since the message was accepted. */
export function countDelivery(status: "delivered" | "deferred" | "failed", ageMs: number): void {
  if (status === "delivered") {
    metrics.messagesSent.inc();
    metrics.deliveryLatency.observe({}, Math.max(0, ageMs) / 1000);
  } else if (status === "deferred") metrics.messagesDeferred.inc();
  else metrics.messagesBounced.inc();
}

/** A connection opened on `listener`; call the returned function when it closes. */
export function countConnection(listener: string): () => void {
  metrics.connections.inc({ listener });
  metrics.connectionsOpen.add({ listener }, 1);
  return () => metrics.connectionsOpen.add({ listener }, -1);
}
