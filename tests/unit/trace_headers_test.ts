import assert from "node:assert/strict";
import { rfc5322Date, traceHeaders, type TraceInfo } from "../../src/smtp/trace_headers.ts";

const DATE = new Date(Date.UTC(2026, 10, 26, 23, 30, 0));

function info(over: Partial<TraceInfo> = {}): TraceInfo {
  return {
    heloName: "client.example.org",
    remoteAddress: "192.0.2.7",
    hostname: "mx.example.net",
    nodeId: "node-1",
    esmtp: true,
    smtputf8: false,
    id: "abc123",
    from: "alice@example.org",
    recipients: ["bob@example.net"],
    date: DATE,
    ...over,
  };
}

/** The protocol word after `with` in the Received: header. */
function withProtocol(headers: string): string {
  const m = / with (\S+)/.exec(headers);
  assert.ok(m, headers);
  return m[1];
}

Deno.test("traceHeaders (RFC 5321 §4.4)", async (t) => {
  await t.step("the whole shape for plain ESMTP", () => {
    assert.equal(
      traceHeaders(info()),
      "Return-Path: <alice@example.org>\r\n" +
        "Received: from client.example.org ([192.0.2.7])\r\n" +
        "\tby mx.example.net (fsmtp node-1) with ESMTP\r\n" +
        "\tid abc123 for <bob@example.net>;\r\n" +
        "\tThu, 26 Nov 2026 23:30:00 +0000\r\n",
    );
  });

  await t.step("every line ends in CRLF, continuation lines start with a tab", () => {
    const h = traceHeaders(
      info({ tls: { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256" } }),
    );
    assert.ok(h.endsWith("\r\n"));
    const lines = h.slice(0, -2).split("\r\n");
    assert.equal(lines.length, 5);
    assert.ok(lines[0].startsWith("Return-Path: "));
    assert.ok(lines[1].startsWith("Received: "));
    for (const l of lines.slice(2)) assert.ok(l.startsWith("\t"), JSON.stringify(l));
    assert.ok(!/[^\r]\n|\r[^\n]/.test(h), "no bare CR or LF");
  });

  await t.step("with-protocol types (RFC 3848, RFC 6531 §4.3)", () => {
    const tls = { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" };
    assert.equal(withProtocol(traceHeaders(info({ esmtp: false }))), "SMTP");
    assert.equal(withProtocol(traceHeaders(info())), "ESMTP");
    assert.equal(withProtocol(traceHeaders(info({ tls }))), "ESMTPS");
    assert.equal(withProtocol(traceHeaders(info({ smtputf8: true }))), "UTF8SMTP");
    assert.equal(withProtocol(traceHeaders(info({ smtputf8: true, tls }))), "UTF8SMTPS");
  });

  await t.step("TLS version and cipher are recorded in a comment", () => {
    const h = traceHeaders(
      info({ tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" } }),
    );
    assert.ok(
      h.includes(
        "\tby mx.example.net (fsmtp node-1) with ESMTPS (TLSv1.3 TLS_AES_256_GCM_SHA384)\r\n",
      ),
      h,
    );
    const noCipher = traceHeaders(info({ tls: { protocol: "TLSv1.2", cipher: "" } }));
    assert.ok(noCipher.includes("with ESMTPS (TLSv1.2)\r\n"), noCipher);
  });

  await t.step("IPv6 peers are written as an IPv6 address literal (§4.1.3)", () => {
    const h = traceHeaders(info({ remoteAddress: "2001:db8::25" }));
    assert.ok(h.includes("Received: from client.example.org ([IPv6:2001:db8::25])\r\n"), h);
    const v4 = traceHeaders(info({ remoteAddress: "127.0.0.1" }));
    assert.ok(v4.includes("([127.0.0.1])"), v4);
  });

  await t.step("the for clause only with exactly one recipient", () => {
    assert.ok(traceHeaders(info()).includes("\tid abc123 for <bob@example.net>;\r\n"));
    const two = traceHeaders(info({ recipients: ["a@x.example", "b@x.example"] }));
    assert.ok(two.includes("\tid abc123;\r\n"), two);
    assert.ok(!two.includes(" for "), two);
    assert.ok(!two.includes("a@x.example"), two);
    const none = traceHeaders(info({ recipients: [] }));
    assert.ok(none.includes("\tid abc123;\r\n"), none);
  });

  await t.step("the null reverse-path gives Return-Path: <>", () => {
    assert.ok(traceHeaders(info({ from: "" })).startsWith("Return-Path: <>\r\n"));
  });

  await t.step("hostile HELO names are sanitised", () => {
    const hostile = 'evil (forged) ; by "x"\\\r\nX-Injected: yes\tend';
    const h = traceHeaders(info({ heloName: hostile }));
    const received = h.split("\r\n")[1];
    assert.equal(
      received,
      "Received: from evil__forged____by__x____X-Injected:_yes_end ([192.0.2.7])",
    );
    assert.ok(!h.includes("X-Injected: yes"), h);
    assert.equal(h.split("\r\n").length, 6, "still five lines");
  });

  await t.step("non-ASCII HELO names are replaced, and the name is cut at 255", () => {
    const h = traceHeaders(info({ heloName: "münchen.example" }));
    assert.ok(h.includes("from m_nchen.example ("), h);
    const long = traceHeaders(info({ heloName: "a".repeat(1000) }));
    const m = /Received: from (a+) \(/.exec(long);
    assert.ok(m, long);
    assert.equal(m[1].length, 255);
  });

  await t.step("the by clause names the configured node", () => {
    const h = traceHeaders(info({ nodeId: "eu-west-3" }));
    assert.equal(h.split("\r\n")[2], "\tby mx.example.net (fsmtp eu-west-3) with ESMTP");
  });

  await t.step("a hostile node id cannot close the comment or add a header", () => {
    const h = traceHeaders(info({ nodeId: "n1) x\r\nX-Injected: yes" }));
    assert.equal(
      h.split("\r\n")[2],
      "\tby mx.example.net (fsmtp n1__x__X-Injected:_yes) with ESMTP",
    );
    assert.ok(!h.includes("X-Injected: yes"), h);
    assert.equal(h.split("\r\n").length, 6, "still five lines");
  });

  await t.step("square brackets of an address-literal HELO are kept", () => {
    const h = traceHeaders(info({ heloName: "[192.0.2.7]" }));
    assert.ok(h.includes("Received: from [192.0.2.7] ([192.0.2.7])\r\n"), h);
  });
});

Deno.test("rfc5322Date (RFC 5322 §3.3)", async (t) => {
  await t.step("day-name, date, time and zone in UTC", () => {
    assert.equal(rfc5322Date(DATE), "Thu, 26 Nov 2026 23:30:00 +0000");
  });

  await t.step("one-digit days are not padded, times are", () => {
    assert.equal(
      rfc5322Date(new Date(Date.UTC(2026, 0, 5, 3, 4, 5))),
      "Mon, 5 Jan 2026 03:04:05 +0000",
    );
  });

  await t.step("all months and days are named", () => {
    const months: string[] = [];
    const days = new Set<string>();
    for (let month = 0; month < 12; month++) {
      const s = rfc5322Date(new Date(Date.UTC(2025, month, 1)));
      months.push(s.split(" ")[2]);
    }
    for (let d = 1; d <= 7; d++) days.add(rfc5322Date(new Date(Date.UTC(2025, 5, d))).slice(0, 3));
    assert.deepEqual(months, [
      "Jan",
      "Feb",
      "Mar",
      "Apr",
      "May",
      "Jun",
      "Jul",
      "Aug",
      "Sep",
      "Oct",
      "Nov",
      "Dec",
    ]);
    assert.deepEqual([...days].sort(), ["Fri", "Mon", "Sat", "Sun", "Thu", "Tue", "Wed"]);
  });

  await t.step("matches the RFC 5322 date-time grammar and Date.parse round-trips", () => {
    for (const ms of [0, 951_782_400_000, 1_709_251_199_999, Date.UTC(2099, 11, 31, 23, 59, 59)]) {
      const d = new Date(ms);
      const s = rfc5322Date(d);
      assert.match(
        s,
        /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/,
      );
      assert.equal(Date.parse(s), Math.floor(ms / 1000) * 1000, s);
    }
  });

  await t.step("uses UTC regardless of the local time zone", () => {
    // 2024-02-29 (leap day) just before midnight UTC.
    assert.equal(
      rfc5322Date(new Date("2024-02-29T23:59:59.999Z")),
      "Thu, 29 Feb 2024 23:59:59 +0000",
    );
  });
});
