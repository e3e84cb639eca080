/**
 * `POST /api/v1/messages` (send) and `GET /api/v1/messages/{id}` (status), authenticated by
 * an API token (`Authorization: Bearer …`, RFC 6750 §2.1). A message is checked against the
 * rules of SMTP submission (the From: addresses must be the token user's), DKIM-signed and
 * queued through the same path, and answered 202 with its id; its status per recipient is
 * kept for `http.status_retention`.
 */
import { randomBytes } from "node:crypto";
import type { ApiTokenRecord } from "../store/api_tokens.ts";
import type { RecipientState } from "../store/delivery_status.ts";
import { metrics } from "../metrics/metrics.ts";
import { concatBytes } from "../crypto/bytes.ts";
import { rfc5322Date } from "../smtp/trace_headers.ts";
import { verifyToken } from "./api_token.ts";
import { HttpError, jsonResponse } from "./http_error.ts";
import { type ApiMessage, messageFromJson, messageFromRaw } from "./message_request.ts";
import type { HttpPorts } from "./ports.ts";
import type { Route, RouteContext } from "./router.ts";
import { readBody } from "./read_body.ts";

/** JSON carries attachments in base64: 4 octets per 3, plus room for the other fields. */
const JSON_OVERHEAD = 64 * 1024;
const MINUTE_MS = 60_000;

/** The two routes. */
export function messageRoutes(ports: HttpPorts): Route[] {
  return [
    {
      method: "POST",
      pattern: "/api/v1/messages",
      name: "messages.send",
      handler: (request, ctx) => send(ports, request, ctx),
    },
    {
      method: "GET",
      pattern: "/api/v1/messages/{id}",
      name: "messages.status",
      handler: (request, ctx) => status(ports, request, ctx),
    },
  ];
}

/** The token of the request's Authorization field, or 401. */
export async function authenticate(ports: HttpPorts, request: Request): Promise<ApiTokenRecord> {
  const header = request.headers.get("authorization");
  const m = header ? /^Bearer +([\x21-\x7e]+) *$/i.exec(header) : null;
  if (!m) {
    throw new HttpError(
      "unauthorized",
      "send an API token: Authorization: Bearer TOKEN (made with fsmtp --token ADDRESS)",
      { "www-authenticate": 'Bearer realm="fsmtp"' },
    );
  }
  const token = await verifyToken(ports.tokens, m[1]);
  // A token older than its user was made for an earlier user of the same address (a store that
  // does not delete tokens with their user keeps them).
  const userSince = token && await ports.userCreatedAt(token.address);
  if (!token || userSince === undefined || token.createdAt < userSince) {
    metrics.authFailures.inc({ mechanism: "api_token" });
    throw new HttpError("unauthorized", "the API token is not valid (unknown or revoked)", {
      "www-authenticate": 'Bearer realm="fsmtp", error="invalid_token"',
    });
  }
  return token;
}

async function send(ports: HttpPorts, request: Request, ctx: RouteContext): Promise<Response> {
  const token = await authenticate(ports, request);
  const config = ports.config();
  const limit = await ports.rate.hit(`token:${token.id}`, MINUTE_MS);
  if (limit.count > config.http.rate_limit) {
    const seconds = Math.max(1, Math.ceil(limit.resetMs / 1000));
    throw new HttpError(
      "rate_limited",
      `this token may send ${config.http.rate_limit} messages a minute (http.rate_limit); ` +
        `try again in ${seconds} s`,
      { "retry-after": String(seconds) },
    );
  }
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json" && type !== "message/rfc822") {
    throw new HttpError(
      "unsupported_media_type",
      "send Content-Type: application/json (fields) or message/rfc822 (a whole message)",
    );
  }
  const maxSize = config.limits.max_message_size;
  const raw = type === "message/rfc822";
  const body = await readBody(
    request,
    raw ? maxSize : Math.ceil(maxSize * 4 / 3) + JSON_OVERHEAD,
    config.limits.command_timeout,
  );
  let message: ApiMessage;
  if (raw) {
    message = messageFromRaw(body, new Date());
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (err) {
      throw new HttpError("malformed_json", `the body is not JSON: ${(err as Error).message}`);
    }
    message = await messageFromJson(parsed, config.node_id);
  }
  if (message.content.length > maxSize) {
    throw new HttpError(
      "payload_too_large",
      `the message is ${message.content.length} octets; at most ${maxSize} ` +
        `(limits.max_message_size)`,
    );
  }
  // RFC 6409 §8 leaves it to the MSA: as in SMTP submission, only the user's own addresses.
  const foreign = message.fromHeader.find((a) => !ports.mayUseAddress(token.address, a));
  if (foreign !== undefined) {
    throw new HttpError("forbidden", `this token sends as ${token.address}, not as ${foreign}`);
  }
  if (message.recipients.length > config.limits.max_recipients) {
    throw new HttpError(
      "invalid_request",
      `at most ${config.limits.max_recipients} recipients (limits.max_recipients)`,
    );
  }
  const local: string[] = [];
  for (const address of message.recipients) {
    const found = await ports.checkRecipient(address);
    if (found === "no-such-user") {
      throw new HttpError("invalid_recipient", `no mailbox ${address} here`);
    }
    if (found === "not-local" && !ports.canRelay()) {
      throw new HttpError("unavailable", "remote recipients cannot be queued on this node now");
    }
    if (found !== "not-local") local.push(address);
  }
  return await accept(ports, token, message, local, ctx.remoteAddress);
}

/** Records the status, submits, answers 202. */
async function accept(
  ports: HttpPorts,
  token: ApiTokenRecord,
  message: ApiMessage,
  local: string[],
  remoteAddress: string,
): Promise<Response> {
  const config = ports.config();
  const id = randomBytes(8).toString("hex").toUpperCase();
  const now = Date.now();
  // A trace field as SMTP submission adds one (RFC 5321 §4.4); "with" is left out, as no
  // registered protocol name says HTTP.
  const client = remoteAddress.includes(":") ? `IPv6:${remoteAddress}` : remoteAddress;
  const trace = new TextEncoder().encode(
    `Received: from [${client}] by ${config.hostname} (fsmtp HTTP API) id ${id};\r\n` +
      `\t${rfc5322Date(new Date(now))}\r\n`,
  );
  // Tracked before it is queued: the queue runner may record the first attempt at once.
  await ports.statuses.trackMessage({
    id,
    owner: token.address,
    createdAt: now,
    recipients: message.recipients.map((address) => ({ address, state: "queued", updatedAt: now })),
  }, config.http.status_retention);
  await ports.submit({
    id,
    queueId: id,
    from: message.from,
    recipients: message.recipients,
    content: concatBytes(trace, message.content),
    user: token.address,
    // RFC 6531: a non-ASCII address needs SMTPUTF8 onward.
    smtputf8: [message.from, ...message.recipients].some((a) => /[^\x00-\x7f]/.test(a)),
    dsn: {},
    recipientDsn: new Map(),
  });
  if (local.length > 0) {
    const delivered: RecipientState[] = local.map((address) => ({
      address,
      state: "delivered",
      detail: "delivered to a local mailbox",
      updatedAt: Date.now(),
    }));
    await ports.statuses.updateRecipients(id, delivered);
  }
  metrics.messagesReceived.inc({ via: "http" });
  ports.log.info("http.message.accepted", {
    id,
    user: token.address,
    token: token.id,
    rcpts: message.recipients.length,
    size: message.content.length,
  });
  return jsonResponse(202, {
    id,
    status: "queued",
    recipients: message.recipients.length,
    statusUrl: `/api/v1/messages/${id}`,
  }, { location: `/api/v1/messages/${id}` });
}

async function status(ports: HttpPorts, request: Request, ctx: RouteContext): Promise<Response> {
  const token = await authenticate(ports, request);
  const record = await ports.statuses.getStatus(ctx.params.id);
  // Another user's message is "not found" too: its existence is not theirs to learn.
  if (!record || record.owner !== token.address) {
    throw new HttpError("not_found", `no message ${ctx.params.id} of ${token.address}`);
  }
  return jsonResponse(200, {
    id: record.id,
    createdAt: new Date(record.createdAt).toISOString(),
    recipients: record.recipients.map((r) => ({
      address: r.address,
      status: r.state,
      ...(r.detail === undefined ? {} : { detail: r.detail }),
      updatedAt: new Date(r.updatedAt).toISOString(),
    })),
  });
}
