/**
 * deliverToDomain against scripted peers on loopback with an in-memory Resolver: MX order and
 * fallback (a second peer on ::1 at the same port stands for another host), null and implicit
 * MX, DNS failures, STARTTLS (opportunistic, broken, required), a relay with AUTH, connection
 * reuse and timeouts.
 */
import assert from "node:assert/strict";
import { DnsError } from "../../src/dns/resolver.ts";
import {
  deliverToDomain,
  type DeliveryOptions,
  type OutboundMessage,
} from "../../src/smtp_client/deliver.ts";
import { FakePeer, peerCertificate, type PeerScript, stubResolver } from "../helpers/smtp_peer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FAST = {
  connect: 2000,
  greeting: 2000,
  mail: 2000,
  rcpt: 2000,
  dataInit: 2000,
  dataEnd: 2000,
  command: 2000,
};
const MX = (...hosts: [number, string][]) =>
  hosts.map(([preference, exchange]) => ({ preference, exchange }));

function message(
  id: string,
  recipients = ["bob@remote.test"],
  extra: Partial<OutboundMessage> = {},
): OutboundMessage {
  return {
    id,
    from: "alice@local.test",
    recipients,
    content: enc(`Subject: ${id}\r\n\r\nbody of ${id}\r\n`),
    needs8bit: false,
    needsSmtputf8: false,
    ...extra,
  };
}

function options(
  port: number,
  resolver: DeliveryOptions["resolver"],
  extra: Partial<DeliveryOptions> = {},
): DeliveryOptions {
  return {
    resolver,
    heloName: "out.local.test",
    port,
    requireTls: false,
    timeouts: FAST,
    ...extra,
  };
}

/** A peer on 127.0.0.1, optionally a second one on ::1 at the same port. */
async function peers(
  script: PeerScript,
  v6?: PeerScript,
): Promise<{ v4: FakePeer; v6?: FakePeer; close(): Promise<void> }> {
  const v4 = await FakePeer.start(script);
  const other = v6 ? await FakePeer.start(v6, "::1", v4.port) : undefined;
  return {
    v4,
    v6: other,
    close: async () => {
      await v4.close();
      await other?.close();
    },
  };
}

const mxToLoopback = stubResolver({ "remote.test": MX([10, "mx.remote.test"]) }, {
  "mx.remote.test": ["127.0.0.1"],
});

Deno.test("outbound delivery to a domain", async (t) => {
  await t.step("two messages, one connection, per-recipient outcomes", async () => {
    const p = await peers({
      rcpt: (to) => to.startsWith("gone") ? "550 5.1.1 no such user" : undefined,
    });
    try {
      const events: string[] = [];
      const out = await deliverToDomain("remote.test", [
        message("m1", ["bob@remote.test", "gone@remote.test"]),
        message("m2"),
      ], options(p.v4.port, mxToLoopback, { log: (e) => events.push(e) }));
      assert.equal(p.v4.connections, 1);
      assert.equal(p.v4.transactions.length, 2);
      assert.deepEqual(out.map((o) => o.id), ["m1", "m2"]);
      assert.deepEqual(out[0].recipients, [
        {
          address: "bob@remote.test",
          status: "delivered",
          reply: "250 2.0.0 queued as X1",
          remoteHost: "mx.remote.test",
        },
        {
          address: "gone@remote.test",
          status: "failed",
          reply: "550 5.1.1 no such user",
          remoteHost: "mx.remote.test",
        },
      ]);
      assert.equal(out[1].recipients[0].status, "delivered");
      assert.equal(out[0].tls, undefined);
      assert.ok(events.includes("route") && events.includes("sent"));
      assert.equal(p.v4.commands.at(-1), "QUIT");
    } finally {
      await p.close();
    }
  });

  await t.step("MX preference: the lower preference wins", async () => {
    const p = await peers({}, {});
    try {
      const resolver = stubResolver(
        { "remote.test": MX([20, "mx2.remote.test"], [10, "mx1.remote.test"]) },
        { "mx1.remote.test": ["::1"], "mx2.remote.test": ["127.0.0.1"] },
      );
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, resolver),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(o.recipients[0].remoteHost, "mx1.remote.test");
      assert.equal(p.v6!.transactions.length, 1);
      assert.equal(p.v4.connections, 0);
    } finally {
      await p.close();
    }
  });

  await t.step("the first MX refuses connections: the second gets the mail", async () => {
    const p = await peers({});
    try {
      // Nothing listens on [::1]:port, so mx1 refuses.
      const resolver = stubResolver(
        { "remote.test": MX([10, "mx1.remote.test"], [20, "mx2.remote.test"]) },
        { "mx1.remote.test": ["::1"], "mx2.remote.test": ["127.0.0.1"] },
      );
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, resolver),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(o.recipients[0].remoteHost, "mx2.remote.test");
    } finally {
      await p.close();
    }
  });

  await t.step("a host's second address, and a 4xx greeting moves on", async () => {
    const p = await peers({}, { greeting: "421 4.3.2 too busy" });
    try {
      const resolver = stubResolver(
        { "remote.test": MX([10, "mx.remote.test"]) },
        { "mx.remote.test": ["::1", "127.0.0.1"] },
      );
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, resolver),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(p.v6!.connections, 1);
      assert.equal(p.v4.transactions.length, 1);
    } finally {
      await p.close();
    }
  });

  await t.step("every host refuses: deferred with the last reason", async () => {
    const p = await peers({ greeting: "421 4.3.2 too busy" });
    try {
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback),
      );
      assert.deepEqual(o.recipients[0], {
        address: "bob@remote.test",
        status: "deferred",
        reply: "421 4.3.2 too busy",
        remoteHost: "mx.remote.test",
      });
    } finally {
      await p.close();
    }
  });

  await t.step("null MX: every recipient failed with 5.1.10, nothing connects", async () => {
    const resolver = stubResolver({ "remote.test": MX([0, ""]) });
    const out = await deliverToDomain("remote.test", [
      message("m1", ["a@remote.test", "b@remote.test"]),
    ], options(1, resolver));
    assert.deepEqual(out[0].recipients.map((r) => r.status), ["failed", "failed"]);
    assert.match(out[0].recipients[0].reply, /^5\.1\.10 remote\.test accepts no mail/);
  });

  await t.step("no MX: the domain's own address is the implicit MX", async () => {
    const p = await peers({});
    try {
      const resolver = stubResolver({}, { "remote.test": ["127.0.0.1"] });
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, resolver),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(o.recipients[0].remoteHost, "remote.test");
    } finally {
      await p.close();
    }
  });

  await t.step("no MX and no address: failed (5.1.2); a DNS error: deferred", async () => {
    const [none] = await deliverToDomain(
      "remote.test",
      [message("m1")],
      options(1, stubResolver({})),
    );
    assert.equal(none.recipients[0].status, "failed");
    assert.match(none.recipients[0].reply, /^5\.1\.2 /);
    const broken = stubResolver({ "remote.test": new DnsError("SERVFAIL", "temporary") });
    const [later] = await deliverToDomain("remote.test", [message("m1")], options(1, broken));
    assert.equal(later.recipients[0].status, "deferred");
    assert.match(later.recipients[0].reply, /^4\.4\.3 .*SERVFAIL/);
  });

  await t.step("STARTTLS when offered: TLS recorded, mail sent inside it", async () => {
    const p = await peers({ tls: await peerCertificate() });
    try {
      const transcript: string[] = [];
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback, { onLine: (d, l) => transcript.push(`${d}: ${l}`) }),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.match(o.tls?.protocol ?? "", /^TLSv1\.[23]$/);
      assert.ok(o.tls?.cipher);
      assert.equal(p.v4.transactions[0].tls, true);
      assert.ok(transcript.includes("C: STARTTLS"));
      assert.ok(transcript.some((l) => /^TLS: TLSv1\.\d .*not verified/.test(l)));
      assert.equal(transcript.filter((l) => l === "C: EHLO out.local.test").length, 2);
    } finally {
      await p.close();
    }
  });

  await t.step("a failed TLS upgrade: the host is tried again in clear", async () => {
    const p = await peers({ tls: await peerCertificate(), brokenTls: true });
    try {
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(o.tls, undefined);
      assert.equal(p.v4.connections, 2);
      assert.equal(p.v4.commands.filter((c) => c === "STARTTLS").length, 1);
    } finally {
      await p.close();
    }
  });

  await t.step("requireTls: a peer without STARTTLS gets nothing, deferred", async () => {
    const p = await peers({});
    try {
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback, { requireTls: true }),
      );
      assert.equal(o.recipients[0].status, "deferred");
      assert.match(o.recipients[0].reply, /^4\.7\.10 .*STARTTLS/);
      assert.deepEqual(p.v4.commands, ["EHLO out.local.test", "QUIT"]);
    } finally {
      await p.close();
    }
  });

  await t.step("requireTls and a broken upgrade: deferred, never sent in clear", async () => {
    const p = await peers({ tls: await peerCertificate(), brokenTls: true });
    try {
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback, { requireTls: true }),
      );
      assert.equal(o.recipients[0].status, "deferred");
      assert.match(o.recipients[0].reply, /^4\.7\.5 /);
      assert.equal(p.v4.connections, 1);
      assert.equal(p.v4.transactions.length, 0);
    } finally {
      await p.close();
    }
  });

  await t.step("8-bit and SMTPUTF8 messages to a peer without the extensions fail", async () => {
    const p = await peers({ extensions: ["PIPELINING"] });
    try {
      const out = await deliverToDomain("remote.test", [
        message("m8", undefined, { needs8bit: true }),
        message("mu", undefined, { needsSmtputf8: true }),
        message("ok"),
      ], options(p.v4.port, mxToLoopback));
      assert.equal(out[0].recipients[0].status, "failed");
      assert.match(out[0].recipients[0].reply, /^5\.6\.3 /);
      assert.equal(out[1].recipients[0].status, "failed");
      assert.match(out[1].recipients[0].reply, /^5\.6\.7 /);
      assert.equal(out[2].recipients[0].status, "delivered");
      assert.equal(p.v4.transactions.length, 1);
    } finally {
      await p.close();
    }
  });

  await t.step("relay host: STARTTLS with a verified certificate, then AUTH PLAIN", async () => {
    const cert = await peerCertificate();
    const p = await peers({ tls: cert, auth: { user: "relay-user", password: "relay pass" } });
    try {
      const resolver = stubResolver({}, { "peer.test": ["127.0.0.1"] });
      const transcript: string[] = [];
      const [o] = await deliverToDomain(
        "elsewhere.test",
        [message("m1", ["x@elsewhere.test"])],
        options(0, resolver, {
          relay: {
            host: "peer.test",
            port: p.v4.port,
            user: "relay-user",
            password: "relay pass",
            ca: cert.certPem,
          },
          onLine: (d, l) => transcript.push(`${d}: ${l}`),
        }),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.equal(o.recipients[0].remoteHost, "peer.test");
      assert.deepEqual(p.v4.logins, ["relay-user"]);
      assert.equal(p.v4.transactions[0].tls, true);
      assert.ok(transcript.some((l) => /^TLS: .*certificate verified/.test(l)));
      assert.ok(transcript.includes("C: AUTH PLAIN ****"));
      assert.ok(
        !transcript.some((l) =>
          l.includes("relay pass") || l.includes(btoa("\0relay-user\0relay pass"))
        ),
      );
    } finally {
      await p.close();
    }
  });

  await t.step("relay host with implicit TLS (RFC 8314) and AUTH LOGIN", async () => {
    const cert = await peerCertificate();
    const p = await peers({
      tls: cert,
      implicitTls: true,
      auth: { user: "u", password: "p", mechanisms: "LOGIN" },
      extensions: ["PIPELINING", "8BITMIME"],
    });
    try {
      const [o] = await deliverToDomain(
        "elsewhere.test",
        [message("m1")],
        options(0, stubResolver({}), {
          // A name the Resolver does not know is left to the system (here an IP literal).
          relay: {
            host: "127.0.0.1",
            port: p.v4.port,
            tls: "implicit",
            user: "u",
            password: "p",
            rejectUnauthorized: false,
          },
        }),
      );
      assert.equal(o.recipients[0].status, "delivered");
      assert.ok(o.tls);
      assert.deepEqual(p.v4.logins, ["u"]);
      assert.ok(p.v4.commands.includes("AUTH LOGIN"));
      assert.ok(!p.v4.commands.includes("STARTTLS"));
    } finally {
      await p.close();
    }
  });

  await t.step("relay host: an unverifiable certificate or no STARTTLS means no AUTH", async () => {
    const cert = await peerCertificate();
    for (const script of [{ tls: cert }, {}]) {
      const p = await peers({ ...script, auth: { user: "u", password: "p" } });
      try {
        const resolver = stubResolver({}, { "peer.test": ["127.0.0.1"] });
        const [o] = await deliverToDomain(
          "elsewhere.test",
          [message("m1")],
          options(0, resolver, {
            relay: { host: "peer.test", port: p.v4.port, user: "u", password: "p" },
          }),
        );
        assert.equal(o.recipients[0].status, "deferred");
        assert.match(o.recipients[0].reply, /^4\.7\.(5|10) /);
        assert.ok(!p.v4.commands.some((c) => c.startsWith("AUTH")));
      } finally {
        await p.close();
      }
    }
  });

  await t.step("relay host: wrong credentials defer and stop", async () => {
    const cert = await peerCertificate();
    const p = await peers({ tls: cert, auth: { user: "u", password: "right" } });
    try {
      const resolver = stubResolver({}, { "peer.test": ["127.0.0.1"] });
      const [o] = await deliverToDomain(
        "elsewhere.test",
        [message("m1")],
        options(0, resolver, {
          relay: {
            host: "peer.test",
            port: p.v4.port,
            user: "u",
            password: "wrong",
            ca: cert.certPem,
          },
        }),
      );
      assert.equal(o.recipients[0].status, "deferred");
      assert.equal(o.recipients[0].reply, "535 5.7.8 Authentication failed");
      assert.equal(p.v4.connections, 1);
    } finally {
      await p.close();
    }
  });

  await t.step("a peer that hangs: deferred after the (shortened) timeout", async () => {
    const p = await peers({ hang: "greeting" });
    try {
      const started = Date.now();
      const [o] = await deliverToDomain(
        "remote.test",
        [message("m1")],
        options(p.v4.port, mxToLoopback, {
          timeouts: { ...FAST, greeting: 250 },
        }),
      );
      assert.equal(o.recipients[0].status, "deferred");
      assert.match(
        o.recipients[0].reply,
        /^4\.4\.1 mx\.remote\.test\[127\.0\.0\.1\]:\d+: timed out waiting for the greeting/,
      );
      assert.ok(Date.now() - started < 2000);
    } finally {
      await p.close();
    }
  });

  await t.step("the connection dies mid-batch: the rest are deferred, none lost", async () => {
    let n = 0;
    const p = await peers({ message: () => (n++ === 0 ? undefined : "421 4.3.2 going down") });
    try {
      const out = await deliverToDomain("remote.test", [
        message("m1"),
        message("m2"),
        message("m3"),
      ], options(p.v4.port, mxToLoopback));
      assert.deepEqual(out.map((o) => o.recipients[0].status), [
        "delivered",
        "deferred",
        "deferred",
      ]);
      assert.equal(out[1].recipients[0].reply, "421 4.3.2 going down");
      assert.match(out[2].recipients[0].reply, /^4\.4\.2 .*session ended after 2 message/);
    } finally {
      await p.close();
    }
  });
});
