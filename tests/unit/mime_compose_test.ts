/** Composing messages: MIME structure, encodings, headers, CRLF, unique Message-IDs. */
import assert from "node:assert/strict";
import { composeMessage, newMessageId } from "../../src/mime/compose.ts";
import { headerAddresses, headerValues } from "../../src/mime/header_addresses.ts";
import { headerNodeId, NODE_ID_HEADER, nodeIdHeader } from "../../src/mime/node_id.ts";

const text = (m: Uint8Array) => new TextDecoder().decode(m);

Deno.test("composeMessage", async (t) => {
  await t.step("text only: headers, RFC 2047 subject, quoted-printable body, CRLF", async () => {
    const m = await composeMessage({
      from: "Ann <ann@example.org>",
      to: ["bob@example.net"],
      subject: "Grüße ✉",
      text: "Äpfel\n.leading dot\n" + "x".repeat(200) + "\n",
      nodeId: "node-1",
    });
    const s = text(m);
    assert.doesNotMatch(s.replace(/\r\n/g, ""), /\n|\r/, "every line ends in CRLF");
    assert.match(s, /^X-Mailer: fsmtp\r\n/m);
    assert.match(s, /^Subject: =\?UTF-8\?[QB]\?/m);
    assert.match(s, /^Date: \w{3}, \d{1,2} \w{3} \d{4} /m);
    assert.match(s, /^MIME-Version: 1\.0\r\n/m);
    assert.match(s, /^Content-Transfer-Encoding: quoted-printable\r\n/m);
    assert.ok(s.split("\r\n").every((line) => line.length <= 998), "no line over 998 octets");
    assert.deepEqual(headerAddresses(m, "From"), ["ann@example.org"]);
    assert.match(headerValues(m, "Message-ID")[0], /^<[^@>]+@example\.org>$/);
  });

  await t.step(
    "text + HTML + attachment: multipart/mixed around multipart/alternative",
    async () => {
      const m = await composeMessage({
        from: "ann@example.org",
        to: ["bob@example.net", "cy@example.com"],
        cc: ["dee@example.org"],
        subject: "report",
        text: "see attached",
        html: "<p>see attached</p>",
        attachments: [{ filename: "data.bin", content: new Uint8Array([0, 1, 2, 255]) }],
        nodeId: "node-1",
      });
      const s = text(m);
      assert.match(s, /^Content-Type: multipart\/mixed;/m);
      assert.match(s, /Content-Type: multipart\/alternative;/);
      assert.match(s, /Content-Type: text\/html; charset=utf-8/);
      assert.match(s, /Content-Disposition: attachment; filename=data\.bin/);
      assert.match(s, /\r\nAAEC\/w==\r\n/);
      assert.deepEqual(headerAddresses(m, "To"), ["bob@example.net", "cy@example.com"]);
      assert.deepEqual(headerAddresses(m, "Cc"), ["dee@example.org"]);
    },
  );

  await t.step("X-Fannst-NodeID names the configured node, once, in the header", async () => {
    const m = await composeMessage({
      from: "ann@example.org",
      to: ["bob@example.net"],
      subject: "s",
      text: "X-Fannst-NodeID: not-a-header\n",
      nodeId: "eu-west-3",
    });
    const s = text(m);
    const head = s.slice(0, s.indexOf("\r\n\r\n") + 2);
    assert.equal(head.match(/^X-Fannst-NodeID: eu-west-3\r\n/gm)?.length, 1, head);
    assert.doesNotMatch(head, /X-Fannst-Nodeid/, "spelled as the original spelled it");
    assert.deepEqual(headerValues(m, NODE_ID_HEADER), ["eu-west-3"]);
    assert.deepEqual(headerAddresses(m, "From"), ["ann@example.org"], "headers still parse");
  });

  await t.step("a hostile node id cannot add a header or break a comment", async () => {
    const m = await composeMessage({
      from: "ann@example.org",
      to: ["bob@example.net"],
      subject: "s",
      text: "t",
      nodeId: "n1\r\nBcc: eve@example.com",
    });
    const s = text(m);
    assert.doesNotMatch(s, /^Bcc:/m);
    assert.match(s, /^X-Fannst-NodeID: n1__Bcc:_eve@example\.com\r\n/m);
  });
});

Deno.test("node id header (X-Fannst-NodeID)", async (t) => {
  await t.step("ordinary ids pass unchanged", () => {
    for (const id of ["node-1", "eu-west-3.b", "N_42"]) assert.equal(headerNodeId(id), id);
    assert.equal(nodeIdHeader("node-1"), "X-Fannst-NodeID: node-1");
  });

  await t.step('controls, spaces, non-ASCII and ( ) \\ " become _', () => {
    assert.equal(headerNodeId('a b\tc\r\nd(e)f\\g"hé\u202e'), "a_b_c__d_e_f_g_h__");
  });

  await t.step("never empty, and cut to 64 characters", () => {
    assert.equal(headerNodeId(""), "_");
    assert.equal(headerNodeId("x".repeat(300)), "x".repeat(64));
  });
});

Deno.test("newMessageId", async (t) => {
  await t.step("Message-IDs are unique", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newMessageId("a@example.org")));
    assert.equal(ids.size, 1000);
  });
});
