/**
 * Routing by MX (RFC 5321 §5.1): preference order with ties shuffled, the implicit MX, null
 * MX (RFC 7505), DNS failures, address literals and MX lists that point back at us.
 */
import assert from "node:assert/strict";
import { DnsError, type MxRecord, type Resolver } from "../../src/dns/resolver.ts";
import { findRoute } from "../../src/smtp_client/route.ts";

function resolver(mx: Record<string, MxRecord[] | DnsError>): Resolver {
  return {
    mx: (domain) => {
      const r = mx[domain] ?? [];
      return r instanceof DnsError ? Promise.reject(r) : Promise.resolve(r);
    },
    addresses: () => Promise.resolve([]),
    txt: () => Promise.resolve([]),
  };
}

Deno.test("MX routing", async (t) => {
  await t.step("hosts by preference; ties in the order random() gives", async () => {
    const r = resolver({
      "example.org": [
        { preference: 20, exchange: "c.example.org" },
        { preference: 10, exchange: "B.example.org" },
        { preference: 10, exchange: "a.example.org" },
      ],
    });
    // c.example.org draws 0.9, B.example.org 0.1, a.example.org 0.5.
    const draws = [0.9, 0.1, 0.5];
    const route = await findRoute("example.org", r, "me.test", () => draws.shift()!);
    assert.equal(route.kind, "hosts");
    if (route.kind !== "hosts") return;
    assert.deepEqual(route.hosts.map((h) => h.name), [
      "b.example.org",
      "a.example.org",
      "c.example.org",
    ]);
    assert.equal(route.implicit, false);
  });

  await t.step("no MX: the domain itself is the implicit MX", async () => {
    const route = await findRoute("example.org", resolver({}), "me.test");
    assert.deepEqual(route, {
      kind: "hosts",
      implicit: true,
      hosts: [{ name: "example.org", preference: 0 }],
    });
  });

  await t.step("null MX fails every recipient with 5.1.10 (RFC 7505)", async () => {
    const route = await findRoute(
      "example.org",
      resolver({ "example.org": [{ preference: 0, exchange: "" }] }),
      "me.test",
    );
    assert.equal(route.kind, "final");
    if (route.kind !== "final") return;
    assert.equal(route.status, "failed");
    assert.match(route.reason, /^5\.1\.10 .*null MX/);
  });

  await t.step("a null MX beside real MX records is ignored", async () => {
    const route = await findRoute(
      "example.org",
      resolver({
        "example.org": [{ preference: 0, exchange: "" }, {
          preference: 5,
          exchange: "mx.example.org",
        }],
      }),
      "me.test",
    );
    assert.equal(route.kind === "hosts" && route.hosts[0].name, "mx.example.org");
  });

  await t.step("a temporary DNS failure defers; NXDOMAIN fails", async () => {
    const temp = await findRoute(
      "example.org",
      resolver({ "example.org": new DnsError("SERVFAIL", "temporary") }),
      "me.test",
    );
    assert.equal(temp.kind === "final" && temp.status, "deferred");
    assert.match(temp.kind === "final" ? temp.reason : "", /^4\.4\.3 /);
    const gone = await findRoute(
      "example.org",
      resolver({ "example.org": new DnsError("NXDOMAIN", "nxdomain") }),
      "me.test",
    );
    assert.equal(gone.kind === "final" && gone.status, "failed");
  });

  await t.step("an address literal is its own host", async () => {
    const route = await findRoute("[127.0.0.1]", resolver({}), "me.test");
    assert.deepEqual(route.kind === "hosts" && route.hosts[0].addresses, ["127.0.0.1"]);
    const v6 = await findRoute("[IPv6:::1]", resolver({}), "me.test");
    assert.deepEqual(v6.kind === "hosts" && v6.hosts[0].addresses, ["::1"]);
  });

  await t.step("MX hosts from ourselves on are dropped; being the best MX is a loop", async () => {
    const r = resolver({
      "example.org": [
        { preference: 10, exchange: "primary.example.org" },
        { preference: 20, exchange: "me.test" },
        { preference: 30, exchange: "tertiary.example.org" },
      ],
      "example.net": [{ preference: 10, exchange: "me.test" }],
    });
    const route = await findRoute("example.org", r, "me.test");
    assert.deepEqual(route.kind === "hosts" && route.hosts.map((h) => h.name), [
      "primary.example.org",
    ]);
    const loop = await findRoute("example.net", r, "ME.test");
    assert.equal(loop.kind === "final" && loop.status, "failed");
    assert.match(loop.kind === "final" ? loop.reason : "", /^5\.4\.6 /);
  });
});
