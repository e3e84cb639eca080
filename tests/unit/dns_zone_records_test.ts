import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/config.ts";
import { zoneFileLine, zoneRecords } from "../../src/dns_server/zone_records.ts";
import { RR_TYPE } from "../../src/dns_server/wire.ts";

function config(hostname: string, domains: string[]) {
  const c = defaultConfig();
  c.hostname = hostname;
  c.domains = domains;
  return c;
}

Deno.test("dns zone records: zones, HELO SPF, MTA-STS and zone-file lines", () => {
  const inside = config("mail.example.org", ["example.org"]);
  assert.deepEqual(zoneRecords({ config: inside, dkim: new Map(), serial: 1 }).apexes, [
    "example.org",
  ]);
  // A host name outside every domain is a zone of its own.
  const outside = config("mx.provider.net", ["example.org"]);
  outside.dns.ipv6 = ["2001:db8:0:0:1:0:0:25"];
  const { apexes, records } = zoneRecords({ config: outside, dkim: new Map(), serial: 7 });
  assert.deepEqual(apexes, ["example.org", "mx.provider.net"]);
  const lines = records.map(zoneFileLine);
  assert.ok(
    lines.includes("mx.provider.net.\t1800\tIN\tAAAA\t2001:db8::1:0:0:25"),
    lines.join("\n"),
  );
  assert.ok(lines.includes('mx.provider.net.\t1800\tIN\tTXT\t"v=spf1 a -all"'));
  assert.ok(lines.includes("mx.provider.net.\t1800\tIN\tNS\tmx.provider.net."));
  assert.ok(
    lines.some((l) =>
      l.startsWith("example.org.\t1800\tIN\tSOA\tmx.provider.net. hostmaster.example.org. 7 ")
    ),
  );
  assert.ok(!lines.some((l) => l.startsWith("_mta-sts.")));
  // Without published addresses, no HELO SPF ("a" would match nothing).
  const bare = zoneRecords({
    config: config("mx.provider.net", ["example.org"]),
    dkim: new Map(),
    serial: 1,
  });
  assert.ok(!bare.records.some((rr) => rr.name === "mx.provider.net" && rr.type === RR_TYPE.TXT));
  inside.dns.mta_sts_id = "abc123";
  inside.dns.ttl = 60_000;
  const sts = zoneRecords({ config: inside, dkim: new Map(), serial: 1 }).records.map(zoneFileLine);
  assert.ok(sts.includes('_mta-sts.example.org.\t60\tIN\tTXT\t"v=STSv1; id=abc123"'));
  assert.ok(sts.includes("_imaps._tcp.example.org.\t60\tIN\tSRV\t0 1 2993 mail.example.org."));
});

Deno.test("dns zone records: IPv6 in RFC 5952 form", () => {
  const c = config("mx.example.org", ["example.org"]);
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["2001:DB8::", "2001:db8::"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::", "::"],
  ];
  c.dns.ipv6 = cases.map(([given]) => given);
  const lines = zoneRecords({ config: c, dkim: new Map(), serial: 1 }).records
    .filter((rr) => rr.type === RR_TYPE.AAAA).map((rr) => zoneFileLine(rr).split("\t")[4]);
  assert.deepEqual(lines, cases.map(([, shown]) => shown));
});
