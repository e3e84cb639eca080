/**
 * SmtpClientConnection against scripted peers on 127.0.0.1: greetings and EHLO, HELO
 * fallback, PIPELINING, per-recipient replies, refusals at MAIL and DATA, dot-stuffing,
 * 8BITMIME/SMTPUTF8 requirements, AUTH with a masked transcript, 421 and timeouts.
 */
import assert from "node:assert/strict";
import {
  SmtpClientConnection,
  SmtpClientError,
  type TranscriptDirection,
} from "../../src/smtp_client/client.ts";
import { FakePeer, peerCertificate, type PeerScript } from "../helpers/smtp_peer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const FAST = {
  connect: 2000,
  greeting: 2000,
  mail: 2000,
  rcpt: 2000,
  dataInit: 2000,
  dataEnd: 2000,
  command: 2000,
};
const MESSAGE = enc("Subject: hi\r\n\r\nhello\r\n");

/** Runs `fn` with a peer and a connected, EHLO'd client; closes both. */
async function session(
  script: PeerScript,
  fn: (conn: SmtpClientConnection, peer: FakePeer, lines: string[]) => Promise<void>,
): Promise<void> {
  const peer = await FakePeer.start(script);
  const lines: string[] = [];
  const onLine = (dir: TranscriptDirection, text: string) => lines.push(`${dir}: ${text}`);
  try {
    const conn = await SmtpClientConnection.connect("127.0.0.1", peer.port, {
      timeouts: FAST,
      onLine,
    });
    try {
      await conn.ehlo("client.test");
      await fn(conn, peer, lines);
    } finally {
      await conn.quit();
    }
  } finally {
    await peer.close();
  }
}

Deno.test("SMTP client session", async (t) => {
  await t.step("multi-line greeting and EHLO: capabilities and transcript", async () => {
    const greeting = "220-peer.test ESMTP\r\n220-second line\r\n220 ready";
    const extensions = [
      "PIPELINING",
      "SIZE 2048",
      "8BITMIME",
      "SMTPUTF8",
      "AUTH PLAIN LOGIN",
      "DSN",
    ];
    await session({ greeting, extensions }, async (conn, _peer, lines) => {
      assert.deepEqual(conn.greeting?.lines, ["peer.test ESMTP", "second line", "ready"]);
      assert.equal(conn.esmtp, true);
      for (const k of ["pipelining", "8BITMIME", "SMTPUTF8", "DSN"]) assert.ok(conn.supports(k), k);
      assert.equal(conn.supports("STARTTLS"), false);
      assert.equal(conn.maxSize, 2048);
      assert.deepEqual(conn.authMechanisms, ["PLAIN", "LOGIN"]);
      assert.deepEqual(lines.slice(0, 5), [
        "S: 220-peer.test ESMTP",
        "S: 220-second line",
        "S: 220 ready",
        "C: EHLO client.test",
        "S: 250-peer.test greets client.test",
      ]);
      await Promise.resolve();
    });
  });

  await t.step("HELO fallback when EHLO is refused; no pipelining then", async () => {
    await session({ extensions: null }, async (conn, peer) => {
      assert.equal(conn.esmtp, false);
      assert.equal(conn.extensions.size, 0);
      const r = await conn.send({
        from: "a@client.test",
        recipients: ["b@peer.test", "c@peer.test"],
      }, MESSAGE);
      assert.deepEqual(r.recipients.map((x) => x.status), ["delivered", "delivered"]);
      assert.deepEqual(peer.commands.slice(0, 2), ["EHLO client.test", "HELO client.test"]);
      assert.equal(peer.transactions[0].pipelined, false);
      assert.equal(peer.transactions[0].params, "");
    });
  });

  await t.step("PIPELINING: MAIL, the RCPTs and DATA go in one group (RFC 2920)", async () => {
    await session({}, async (conn, peer, lines) => {
      const r = await conn.send({
        from: "a@client.test",
        recipients: ["b@peer.test", "c@peer.test"],
      }, MESSAGE);
      assert.deepEqual(r.recipients.map((x) => x.reply), [
        "250 2.0.0 queued as X1",
        "250 2.0.0 queued as X1",
      ]);
      assert.equal(peer.transactions[0].pipelined, true);
      assert.equal(peer.transactions[0].params, `SIZE=${MESSAGE.length}`);
      // The whole group is written before the first reply is read.
      const at = (line: string) => lines.indexOf(line);
      assert.ok(at("C: DATA") > at("C: RCPT TO:<c@peer.test>"));
      assert.ok(at("C: DATA") < at("S: 250 2.1.0 OK"), lines.join("\n"));
      assert.ok(at("S: 354 go ahead") > at("S: 250 2.1.5 OK"));
    });
  });

  await t.step("per-recipient 250/450/550: outcomes per recipient", async () => {
    const rcpt = (to: string) =>
      to.startsWith("later")
        ? "450 4.2.1 mailbox busy"
        : to.startsWith("nobody")
        ? "550 5.1.1 no such user"
        : undefined;
    await session({ rcpt }, async (conn, peer) => {
      const r = await conn.send(
        {
          from: "a@client.test",
          recipients: ["ok@peer.test", "later@peer.test", "nobody@peer.test"],
        },
        MESSAGE,
      );
      assert.deepEqual(r.recipients, [
        { address: "ok@peer.test", status: "delivered", reply: "250 2.0.0 queued as X1" },
        { address: "later@peer.test", status: "deferred", reply: "450 4.2.1 mailbox busy" },
        { address: "nobody@peer.test", status: "failed", reply: "550 5.1.1 no such user" },
      ]);
      assert.deepEqual(peer.transactions[0].rcpts, ["ok@peer.test"]);
    });
  });

  await t.step(
    "all recipients refused: DATA refused, no content, RSET before the next",
    async () => {
      let refuse = true;
      await session({ rcpt: () => refuse ? "550 5.1.1 no" : undefined }, async (conn, peer) => {
        const r = await conn.send({ from: "a@client.test", recipients: ["x@peer.test"] }, MESSAGE);
        assert.equal(r.recipients[0].status, "failed");
        assert.equal(r.recipients[0].reply, "550 5.1.1 no");
        assert.equal(peer.transactions.length, 0);
        refuse = false;
        const again = await conn.send(
          { from: "a@client.test", recipients: ["x@peer.test"] },
          MESSAGE,
        );
        assert.equal(again.recipients[0].status, "delivered");
        assert.equal(peer.commands.filter((c) => c === "RSET").length, 1);
      });
    },
  );

  await t.step("354 to a pipelined DATA with no recipient: a lone dot ends it", async () => {
    await session(
      { rcpt: () => "550 5.1.1 no", acceptEmptyData: true },
      async (conn, peer) => {
        const env = { from: "a@client.test", recipients: ["x@peer.test"] };
        const r = await conn.send(env, MESSAGE);
        assert.deepEqual(r.recipients.map((x) => [x.status, x.reply]), [
          ["failed", "550 5.1.1 no"],
        ]);
        assert.equal(peer.transactions.length, 1);
        assert.equal(peer.transactions[0].raw?.length, 0, "content sent without a recipient");
        assert.equal(conn.isOpen, true);
        assert.equal((await conn.send(env, MESSAGE)).recipients[0].status, "failed");
        assert.ok(!peer.commands.includes("RSET"), "the lone dot already ended the transaction");
      },
    );
  });

  await t.step("4xx at MAIL: every recipient deferred, the connection still usable", async () => {
    await session({ mail: () => "451 4.7.1 greylisted, try later" }, async (conn) => {
      const r = await conn.send({
        from: "a@client.test",
        recipients: ["b@peer.test", "c@peer.test"],
      }, MESSAGE);
      assert.deepEqual(r.recipients.map((x) => [x.status, x.reply]), [
        ["deferred", "451 4.7.1 greylisted, try later"],
        ["deferred", "451 4.7.1 greylisted, try later"],
      ]);
      assert.equal(conn.isOpen, true);
    });
  });

  await t.step("5xx at DATA: every accepted recipient failed", async () => {
    await session({
      data: () => "554 5.7.1 no data for you",
      rcpt: (to) => to.startsWith("x") ? "550 5.1.1 no" : undefined,
    }, async (conn) => {
      const r = await conn.send({
        from: "a@client.test",
        recipients: ["b@peer.test", "x@peer.test", "c@peer.test"],
      }, MESSAGE);
      assert.deepEqual(r.recipients.map((x) => [x.status, x.reply]), [
        ["failed", "554 5.7.1 no data for you"],
        ["failed", "550 5.1.1 no"],
        ["failed", "554 5.7.1 no data for you"],
      ]);
    });
  });

  await t.step("5xx and 4xx after the final dot", async () => {
    let n = 0;
    await session(
      { message: () => (n++ === 0 ? "552 5.3.4 too big" : "451 4.3.0 disk full") },
      async (conn) => {
        const env = { from: "a@client.test", recipients: ["b@peer.test"] };
        assert.equal((await conn.send(env, MESSAGE)).recipients[0].status, "failed");
        assert.equal((await conn.send(env, MESSAGE)).recipients[0].status, "deferred");
      },
    );
  });

  await t.step("dot-stuffing: lines starting with '.' arrive intact", async () => {
    const text = ".first\r\nmiddle\r\n..two dots\r\n.\r\nlast without CRLF";
    await session({}, async (conn, peer, lines) => {
      await conn.send({ from: "a@client.test", recipients: ["b@peer.test"] }, enc(text));
      const tx = peer.transactions[0];
      assert.equal(dec(tx.raw), "..first\r\nmiddle\r\n...two dots\r\n..\r\nlast without CRLF");
      assert.equal(dec(tx.content), `${text}\r\n`);
      // The transcript says how much was sent, never what.
      assert.ok(lines.includes(`C: [message content: ${text.length} octets]`));
      assert.ok(!lines.some((l) => l.includes("two dots")));
    });
  });

  await t.step("a large message goes out in blocks and arrives identical", async () => {
    const big = enc(`Subject: big\r\n\r\n${"0123456789abcdef".repeat(64)}\r\n`.repeat(300));
    await session({ extensions: ["PIPELINING", "SIZE 0"] }, async (conn, peer) => {
      const r = await conn.send({ from: "a@client.test", recipients: ["b@peer.test"] }, big);
      assert.equal(r.recipients[0].status, "delivered");
      assert.deepEqual(peer.transactions[0].content, big);
    });
  });

  await t.step(
    "8-bit content to a peer without 8BITMIME fails with 5.6.3, nothing sent",
    async () => {
      await session({ extensions: ["PIPELINING"] }, async (conn, peer) => {
        const r = await conn.send({
          from: "a@client.test",
          recipients: ["b@peer.test"],
          needs8bit: true,
        }, enc("caf\xe9"));
        assert.equal(r.recipients[0].status, "failed");
        assert.match(r.recipients[0].reply, /^5\.6\.3 .*8BITMIME/);
        assert.ok(!peer.commands.some((c) => c.startsWith("MAIL")));
      });
    },
  );

  await t.step("SMTPUTF8 needed and not offered fails with 5.6.7 (RFC 6531 §3.2)", async () => {
    await session({ extensions: ["PIPELINING", "8BITMIME"] }, async (conn, peer) => {
      const r = await conn.send({
        from: "josé@client.test",
        recipients: ["b@peer.test"],
        needsSmtputf8: true,
      }, MESSAGE);
      assert.equal(r.recipients[0].status, "failed");
      assert.match(r.recipients[0].reply, /^5\.6\.7 .*SMTPUTF8/);
      assert.equal(peer.transactions.length, 0);
    });
  });

  await t.step("BODY=8BITMIME and SMTPUTF8 are declared when offered", async () => {
    await session({ extensions: ["8BITMIME", "SMTPUTF8"] }, async (conn, peer) => {
      const r = await conn.send(
        {
          from: "josé@client.test",
          recipients: ["b@peer.test"],
          needs8bit: true,
          needsSmtputf8: true,
        },
        enc("Subject: café\r\n\r\ncafé\r\n"),
      );
      assert.equal(r.recipients[0].status, "delivered");
      assert.equal(peer.transactions[0].from, "josé@client.test");
      assert.equal(peer.transactions[0].params, "BODY=8BITMIME SMTPUTF8");
    });
  });

  await t.step("DSN parameters go to a peer offering DSN (RFC 3461), not to others", async () => {
    const env = {
      from: "a@client.test",
      recipients: ["b@peer.test"],
      dsn: {
        envid: "Q123",
        ret: "HDRS" as const,
        recipients: {
          "b@peer.test": { notify: ["SUCCESS" as const], orcpt: "rfc822;b@peer.test" },
        },
      },
    };
    await session({ extensions: ["DSN"] }, async (conn, peer) => {
      const r = await conn.send(env, MESSAGE);
      assert.equal(r.dsn, true);
      assert.equal(peer.transactions[0].params, "RET=HDRS ENVID=Q123");
      assert.ok(
        peer.commands.includes("RCPT TO:<b@peer.test> NOTIFY=SUCCESS ORCPT=rfc822;b@peer.test"),
      );
    });
    await session({ extensions: [] }, async (conn, peer) => {
      const r = await conn.send(env, MESSAGE);
      assert.equal(r.dsn, false);
      assert.ok(peer.commands.includes("RCPT TO:<b@peer.test>"));
    });
  });

  await t.step("421 in the middle: the rest is deferred and the session is over", async () => {
    await session({
      extensions: [],
      rcpt: (to) => to.startsWith("b") ? "421 4.3.2 shutting down" : undefined,
    }, async (conn) => {
      const r = await conn.send({
        from: "a@client.test",
        recipients: ["a@peer.test", "b@peer.test", "c@peer.test"],
      }, MESSAGE);
      assert.deepEqual(r.recipients.map((x) => x.status), ["deferred", "deferred", "deferred"]);
      assert.equal(r.recipients[1].reply, "421 4.3.2 shutting down");
      assert.equal(conn.isOpen, false);
    });
  });

  await t.step("AUTH PLAIN and LOGIN over TLS; secrets masked in the transcript", async () => {
    const tls = await peerCertificate();
    for (const mechanisms of ["PLAIN", "LOGIN"]) {
      await session(
        { tls, auth: { user: "u@client.test", password: "s3cret!", mechanisms } },
        async (conn, peer, lines) => {
          const info = await conn.starttls({ servername: "peer.test", rejectUnauthorized: false });
          assert.match(info.protocol, /^TLSv1\.[23]$/);
          assert.ok(conn.supports("AUTH"), "EHLO again after STARTTLS");
          await conn.auth("u@client.test", "s3cret!");
          assert.deepEqual(peer.logins, ["u@client.test"]);
          assert.ok(peer.commands.some((c) => c.startsWith(`AUTH ${mechanisms}`)));
          const secrets = [
            btoa("\0u@client.test\0s3cret!"),
            btoa("u@client.test"),
            btoa("s3cret!"),
            "s3cret!",
          ];
          for (const l of lines) for (const s of secrets) assert.ok(!l.includes(s), l);
          assert.ok(lines.some((l) => l === "C: AUTH PLAIN ****" || l === "C: ****"));
          assert.ok(lines.some((l) => l.startsWith("TLS: TLSv1")));
        },
      );
    }
  });

  await t.step("a wrong password is refused; no password goes out without TLS", async () => {
    const tls = await peerCertificate();
    await session({ tls, auth: { user: "u", password: "right" } }, async (conn) => {
      await assert.rejects(conn.auth("u", "right"), /without TLS/);
      await conn.starttls({ rejectUnauthorized: false });
      await assert.rejects(conn.auth("u", "wrong"), (e: SmtpClientError) => e.reply?.code === 535);
    });
  });

  await t.step("a peer that never greets: connect times out", async () => {
    const peer = await FakePeer.start({ hang: "greeting" });
    try {
      const started = Date.now();
      await assert.rejects(
        SmtpClientConnection.connect("127.0.0.1", peer.port, { timeouts: { greeting: 200 } }),
        (e: SmtpClientError) => e.kind === "timeout" && /greeting/.test(e.message),
      );
      assert.ok(Date.now() - started < 2000);
    } finally {
      await peer.close();
    }
  });

  await t.step("no reply to the final dot: deferred after the data-end timeout", async () => {
    const peer = await FakePeer.start({ hang: "data-end" });
    try {
      const conn = await SmtpClientConnection.connect("127.0.0.1", peer.port, {
        timeouts: { ...FAST, dataEnd: 200 },
      });
      await conn.ehlo("client.test");
      const r = await conn.send({ from: "a@client.test", recipients: ["b@peer.test"] }, MESSAGE);
      assert.equal(r.recipients[0].status, "deferred");
      assert.match(
        r.recipients[0].reply,
        /^4\.4\.2 127\.0\.0\.1: timed out waiting for the reply to the end of data/,
      );
      assert.equal(conn.isOpen, false);
      await conn.quit();
    } finally {
      await peer.close();
    }
  });

  await t.step("a refused connection is a connect error", async () => {
    const peer = await FakePeer.start();
    const port = peer.port;
    await peer.close();
    await assert.rejects(
      SmtpClientConnection.connect("127.0.0.1", port),
      (e: SmtpClientError) => e.kind === "connect",
    );
  });

  await t.step("a 554 greeting: QUIT, then a reply error", async () => {
    await assert.rejects(
      (async () => {
        const peer = await FakePeer.start({ greeting: "554 5.7.1 go away" });
        try {
          await SmtpClientConnection.connect("127.0.0.1", peer.port, { timeouts: FAST });
        } finally {
          assert.deepEqual(peer.commands, ["QUIT"]);
          await peer.close();
        }
      })(),
      (e: SmtpClientError) => e.kind === "reply" && e.reply?.code === 554,
    );
  });
});
