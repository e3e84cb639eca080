/**
 * DSNs (RFC 3464): composed, then parsed back with a small MIME reader written here, so the
 * structure is checked rather than the exact text.
 */
import assert from "node:assert/strict";
import {
  composeDsn,
  type DsnRequest,
  formatDate,
  headerSection,
  statusOf,
} from "../../src/queue/dsn.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A MIME entity: unfolded header fields (lower-case names) and its body. */
interface Entity {
  headers: Map<string, string>;
  body: string;
}

function parseEntity(text: string): Entity {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? "" : text.slice(end + 4);
  return { headers: parseFields(head), body };
}

/** Header fields, unfolded (RFC 5322 §2.2.3); also the fields of a delivery-status block. */
function parseFields(head: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return fields;
}

/** The parts of a multipart entity (RFC 2046 §5.1.1). */
function parts(entity: Entity): Entity[] {
  const type = entity.headers.get("content-type") ?? "";
  const boundary = /boundary="([^"]+)"/.exec(type)?.[1];
  assert.ok(boundary, `no boundary in ${type}`);
  const chunks = entity.body.split(`\r\n--${boundary}`);
  // Before the first delimiter: the preamble; the last chunk starts with "--" (the close).
  assert.ok(chunks.at(-1)!.startsWith("--"), "no close delimiter");
  const first = entity.body.startsWith(`--${boundary}\r\n`) ? 0 : 1;
  return chunks.slice(first, -1).map((c) => parseEntity(c.replace(/^(--\S+)?\r\n/, "")));
}

/** The delivery-status body: per-message fields, then one block per recipient. */
function statusBlocks(body: string): Map<string, string>[] {
  return body.split(/\r\n\r\n/).filter((b) => b.trim() !== "").map(parseFields);
}

const ORIGINAL = "From: alice@here.example\r\nTo: bob@there.example\r\nSubject: plans\r\n" +
  "Message-ID: <m1@here.example>\r\n\r\nSee you at noon.\r\n";

function request(extra: Partial<DsnRequest> = {}): DsnRequest {
  return {
    hostname: "mail.here.example",
    nodeId: "node-3",
    message: {
      id: "Q1",
      from: "alice@here.example",
      arrivedAt: Date.UTC(2024, 0, 2, 3, 4, 5),
      envid: "env-42",
      content: enc.encode(ORIGINAL),
    },
    recipients: [{
      address: "bob@there.example",
      orcpt: "rfc822;Bob@there.example",
      action: "failed",
      reply: "550 5.1.1 <bob@there.example>: Recipient address rejected",
      remoteHost: "mx.there.example",
      lastAttemptAt: Date.UTC(2024, 0, 2, 3, 5, 0),
    }],
    now: Date.UTC(2024, 0, 2, 3, 5, 1),
    random: () => "r4nd0m",
    ...extra,
  };
}

function compose(extra: Partial<DsnRequest> = {}) {
  const dsn = composeDsn(request(extra));
  assert.ok(dsn, "no DSN");
  const top = parseEntity(dec.decode(dsn.content));
  return { dsn, top, parts: parts(top) };
}

Deno.test("queue DSN", async (t) => {
  await t.step("a failure DSN is a multipart/report of three parts", () => {
    const { dsn, top, parts: [text, status, original] } = compose();
    assert.equal(dsn.to, "alice@here.example");
    assert.equal(dsn.needs8bit, false);
    const h = top.headers;
    assert.equal(h.get("from"), "Mail Delivery System <MAILER-DAEMON@mail.here.example>");
    assert.equal(h.get("to"), "<alice@here.example>");
    assert.equal(h.get("subject"), "Undelivered Mail Returned to Sender");
    assert.equal(h.get("auto-submitted"), "auto-replied");
    assert.equal(h.get("x-fannst-nodeid"), "node-3");
    assert.equal(h.get("date"), "Tue, 02 Jan 2024 03:05:01 +0000");
    assert.equal(h.get("message-id"), "<r4nd0m@mail.here.example>");
    assert.equal(h.get("mime-version"), "1.0");
    assert.match(h.get("content-type")!, /^multipart\/report; report-type=delivery-status;/);
    assert.match(text.headers.get("content-type")!, /^text\/plain/);
    assert.match(text.body, /could not be delivered/);
    assert.match(text.body, /<bob@there\.example>: failed/);
    assert.match(text.body, /mx\.there\.example said: 550 5\.1\.1/);
    assert.equal(status.headers.get("content-type"), "message/delivery-status");
    assert.equal(original.headers.get("content-type"), "message/rfc822");
    assert.equal(original.body, ORIGINAL, "the original comes back byte for byte");
  });

  await t.step("X-Fannst-NodeID: the configured node, once, in the top header only", () => {
    const { dsn, parts: [text, status, original] } = compose({ nodeId: "eu-west-3" });
    const raw = dec.decode(dsn.content);
    const head = raw.slice(0, raw.indexOf("\r\n\r\n") + 2);
    assert.equal(head.match(/^X-Fannst-NodeID: eu-west-3\r\n/gm)?.length, 1, head);
    assert.equal(raw.match(/X-Fannst-NodeID/g)?.length, 1, "not in a part or the original");
    for (const part of [text, status, original]) assert.ok(!part.headers.has("x-fannst-nodeid"));
  });

  await t.step("a hostile node id cannot add a header", () => {
    const { top } = compose({ nodeId: "n1\r\nBcc: eve@example.com" });
    assert.equal(top.headers.has("bcc"), false);
    assert.equal(top.headers.get("x-fannst-nodeid"), "n1__Bcc:_eve@example.com");
  });

  await t.step("no node id given: no header", () => {
    const { top } = compose({ nodeId: undefined });
    assert.equal(top.headers.has("x-fannst-nodeid"), false);
  });

  await t.step("the delivery-status fields (RFC 3464 §2.2, §2.3)", () => {
    const { parts: [, status] } = compose();
    const [perMessage, perRecipient, ...rest] = statusBlocks(status.body);
    assert.equal(rest.length, 0);
    assert.equal(perMessage.get("reporting-mta"), "dns; mail.here.example");
    assert.equal(perMessage.get("original-envelope-id"), "env-42");
    assert.equal(perMessage.get("arrival-date"), "Tue, 02 Jan 2024 03:04:05 +0000");
    assert.equal(perRecipient.get("original-recipient"), "rfc822;Bob@there.example");
    assert.equal(perRecipient.get("final-recipient"), "rfc822; bob@there.example");
    assert.equal(perRecipient.get("action"), "failed");
    assert.equal(perRecipient.get("status"), "5.1.1");
    assert.equal(perRecipient.get("remote-mta"), "dns; mx.there.example");
    assert.equal(
      perRecipient.get("diagnostic-code"),
      "smtp; 550 5.1.1 <bob@there.example>: Recipient address rejected",
    );
    assert.equal(perRecipient.get("last-attempt-date"), "Tue, 02 Jan 2024 03:05:00 +0000");
    assert.equal(perRecipient.has("will-retry-until"), false);
  });

  await t.step("RET=HDRS returns only the headers, as text/rfc822-headers", () => {
    const base = request();
    const { parts: [, , original] } = compose({ message: { ...base.message, ret: "HDRS" } });
    assert.equal(original.headers.get("content-type"), "text/rfc822-headers");
    assert.ok(original.body.includes("Subject: plans"));
    assert.ok(!original.body.includes("See you at noon"));
  });

  await t.step("a delay warning: Action delayed, Will-Retry-Until, headers only", () => {
    const until = Date.UTC(2024, 0, 7, 3, 4, 5);
    const base = request();
    const { top, parts: [text, status, original] } = compose({
      recipients: [{ ...base.recipients[0], action: "delayed", reply: "451 4.7.1 greylisted" }],
      willRetryUntil: until,
    });
    assert.equal(top.headers.get("subject"), "Delayed Mail (still being retried)");
    assert.match(text.body, /not been delivered yet/);
    const [, r] = statusBlocks(status.body);
    assert.equal(r.get("action"), "delayed");
    assert.equal(r.get("status"), "4.7.1");
    assert.equal(r.get("will-retry-until"), "Sun, 07 Jan 2024 03:04:05 +0000");
    assert.equal(original.headers.get("content-type"), "text/rfc822-headers");
  });

  await t.step("several recipients: one block each; a long reply is folded", () => {
    const long = "550 5.7.1 " + "policy ".repeat(40).trim();
    const { parts: [, status] } = compose({
      recipients: [
        { address: "a@there.example", action: "failed", reply: long },
        { address: "b@there.example", action: "relayed", reply: "250 2.0.0 ok" },
      ],
    });
    for (const line of status.body.split("\r\n")) assert.ok(line.length <= 78, line);
    const [, a, b] = statusBlocks(status.body);
    assert.equal(a.get("diagnostic-code"), `smtp; ${long}`);
    assert.equal(a.has("original-recipient"), false);
    assert.equal(b.get("action"), "relayed");
    assert.equal(b.get("status"), "2.0.0");
  });

  await t.step("a reply cannot inject fields", () => {
    const { parts: [, status] } = compose({
      recipients: [{
        address: "a@there.example",
        action: "failed",
        reply: "550 no\r\nAction: delivered",
      }],
    });
    const [, a] = statusBlocks(status.body);
    assert.equal(a.get("action"), "failed");
    assert.equal(a.get("diagnostic-code"), "smtp; 550 no Action: delivered");
  });

  await t.step("our own words get an X- diagnostic type", () => {
    const { parts: [, status] } = compose({
      recipients: [{
        address: "a@there.example",
        action: "failed",
        reply: "4.4.7 expired after 5 days in the queue; last reply: 451 4.4.1 refused",
      }],
    });
    const [, a] = statusBlocks(status.body);
    assert.equal(a.get("status"), "4.4.7");
    assert.match(a.get("diagnostic-code")!, /^X-fsmtp; 4\.4\.7 expired/);
  });

  await t.step("8-bit content is returned as 8bit and flagged", () => {
    const base = request();
    const content = enc.encode("Subject: caf\u00e9\r\n\r\nna\u00efve\r\n");
    const { dsn, parts: [, , original] } = compose({ message: { ...base.message, content } });
    assert.equal(dsn.needs8bit, true);
    assert.equal(original.headers.get("content-transfer-encoding"), "8bit");
    assert.equal(original.headers.get("content-type"), "message/global");
  });

  await t.step("never a DSN to the null sender, nor with nobody to report", () => {
    const base = request();
    assert.equal(composeDsn({ ...base, message: { ...base.message, from: "" } }), undefined);
    assert.equal(composeDsn({ ...base, recipients: [] }), undefined);
  });

  await t.step("Status from the reply's codes (RFC 3463, RFC 2034)", () => {
    assert.equal(statusOf("550 5.1.1 no such user", "failed"), "5.1.1");
    assert.equal(statusOf("550-5.7.1 first\r\n550 5.7.1 second", "failed"), "5.7.1");
    assert.equal(statusOf("554 transaction failed", "failed"), "5.0.0");
    assert.equal(statusOf("421 closing", "delayed"), "4.0.0");
    assert.equal(statusOf("connection refused", "failed"), "5.0.0");
    assert.equal(statusOf(undefined, "delayed"), "4.0.0");
    assert.equal(statusOf(undefined, "relayed"), "2.0.0");
  });

  await t.step("helpers: dates and header sections", () => {
    assert.equal(formatDate(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert.equal(dec.decode(headerSection(enc.encode("A: 1\r\n\r\nbody"))), "A: 1\r\n\r\n");
    assert.equal(dec.decode(headerSection(enc.encode("A: 1\n\nbody"))), "A: 1\n\n");
    assert.equal(dec.decode(headerSection(enc.encode("A: 1\r\n"))), "A: 1\r\n");
  });
});
