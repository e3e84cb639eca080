/**
 * Fuzz targets for the DNS server's codec and responder (src/dns_server/): any octets decode
 * to a result without throwing, and every response the server would send is itself a
 * well-formed DNS response to the same id, within the transport's size.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { defaultConfig } from "../../src/config/config.ts";
import { respond } from "../../src/dns_server/respond.ts";
import { Zone } from "../../src/dns_server/zone.ts";
import { zoneRecords } from "../../src/dns_server/zone_records.ts";
import { CLASS_IN, decodeMessage, encodeMessage, RR_TYPE } from "../../src/dns_server/wire.ts";
import { type FuzzTarget, mixCase, target, timed, validAndMutated } from "./harness.ts";

const config = defaultConfig();
config.hostname = "mx.example.org";
config.domains = ["example.org"];
config.dns.ipv4 = ["192.0.2.1"];
const zone = new Zone(zoneRecords({
  config,
  dkim: new Map([["example.org", [{ selector: "s", txt: "v=DKIM1; p=" + "A".repeat(900) }]]]),
  serial: 1,
}));

const NAMES = ["example.org", "s._domainkey.example.org", "_imaps._tcp.example.org", "x.com"];
const TYPES = Object.values(RR_TYPE);

/** Well-formed queries over the zone's names, any type, with or without an OPT record. */
const query = fc.tuple(
  fc.constantFrom(...NAMES),
  fc.integer({ min: 0, max: 0x3fffffff }),
  fc.constantFrom(...TYPES),
  fc.option(fc.integer({ min: 0, max: 0xffff })),
  fc.integer({ min: 0, max: 0xffff }),
).map(([name, mask, type, size, id]) =>
  encodeMessage({
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    rcode: 0,
    questions: [{ name: mixCase(name, mask), type, class: CLASS_IN }],
    answers: [],
    authority: [],
    additional: size === null ? [] : [{
      name: "",
      type: RR_TYPE.OPT,
      class: size,
      ttl: 0,
      data: { kind: "raw", octets: new Uint8Array(0) },
    }],
  })
);

/** All targets of this file. */
export const dnsTargets: FuzzTarget[] = [
  target("dns", "decode-never-throws", [validAndMutated(query)], (octets) => {
    timed(() => decodeMessage(octets));
  }),
  target(
    "dns",
    "responses-are-well-formed",
    [validAndMutated(query), fc.constantFrom("udp" as const, "tcp" as const)],
    (octets, transport) => {
      const reply = timed(() => respond(octets, zone, transport));
      if (reply === undefined) return;
      const decoded = decodeMessage(reply);
      assert.ok(decoded.ok, !decoded.ok ? decoded.reason : "");
      assert.ok(decoded.message.qr);
      assert.equal(decoded.message.id, (octets[0] << 8) | octets[1]);
      if (transport === "udp") assert.ok(reply.length <= 1232);
    },
  ),
];
