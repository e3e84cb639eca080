/** Composing messages: MIME structure, encodings, headers, CRLF, unique Message-IDs. */
import assert from "node:assert/strict";
import { composeMessage, newMessageId } from "../../src/mime/compose.ts";
import { headerAddresses, headerValues } from "../../src/mime/header_addresses.ts";

const text = (m: Uint8Array) => new TextDecoder().decode(m);

Deno.test("composeMessage", async (t) => {
  await t.step("text only: headers, RFC 2047 subject, quoted-printable body, CRLF", async () => {
    const m = await composeMessage({
      from: "Ann <ann@example.org>",
      to: ["bob@example.net"],
      subject: "Grüße ✉",
      text: "Äpfel\n.leading dot\n" + "x".repeat(200) + "\n",
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

  await t.step("Message-IDs are unique", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newMessageId("a@example.org")));
    assert.equal(ids.size, 1000);
  });
});
