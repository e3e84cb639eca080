import assert from "node:assert/strict";
import {
  bitString,
  boolean,
  encodeLength,
  explicit,
  generalizedTime,
  ia5String,
  implicitPrimitive,
  integer,
  namedBits,
  nullValue,
  octetString,
  oid,
  printableString,
  sequence,
  set,
  smallInteger,
  utcTime,
  utf8String,
  x509Time,
} from "../../src/tls/der.ts";

/** Hex of bytes, space-separated, for readable assertion diffs. */
function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

Deno.test("der encoder", async (t) => {
  await t.step("lengths use short form below 128 and minimal long form above", () => {
    assert.equal(hex(encodeLength(0)), "00");
    assert.equal(hex(encodeLength(127)), "7f");
    assert.equal(hex(encodeLength(128)), "81 80");
    assert.equal(hex(encodeLength(255)), "81 ff");
    assert.equal(hex(encodeLength(256)), "82 01 00");
    assert.equal(hex(encodeLength(65535)), "82 ff ff");
    assert.equal(hex(encodeLength(65536)), "83 01 00 00");
    assert.equal(hex(encodeLength(2 ** 32)), "85 01 00 00 00 00");
    assert.throws(() => encodeLength(-1), RangeError);
    assert.throws(() => encodeLength(1.5), RangeError);
  });

  await t.step("long contents get a long-form header", () => {
    const seq = sequence(octetString(new Uint8Array(296)));
    assert.equal(hex(seq.subarray(0, 8)), "30 82 01 2c 04 82 01 28");
    assert.equal(seq.length, 4 + 300);
  });

  await t.step("INTEGER strips redundant zeros and keeps positive values positive", () => {
    assert.equal(hex(integer(Uint8Array.of(0x7f))), "02 01 7f");
    assert.equal(hex(integer(Uint8Array.of(0x80))), "02 02 00 80");
    assert.equal(hex(integer(Uint8Array.of(0, 0, 0x7f))), "02 01 7f");
    assert.equal(hex(integer(Uint8Array.of(0, 0, 0x80, 1))), "02 03 00 80 01");
    assert.equal(hex(integer(Uint8Array.of(0, 0))), "02 01 00");
    assert.equal(hex(integer(new Uint8Array(0))), "02 01 00");
    assert.equal(hex(integer(Uint8Array.of(1, 0))), "02 02 01 00");
    assert.equal(hex(smallInteger(0)), "02 01 00");
    assert.equal(hex(smallInteger(2)), "02 01 02");
    assert.equal(hex(smallInteger(128)), "02 02 00 80");
    assert.equal(hex(smallInteger(65537)), "02 03 01 00 01");
  });

  await t.step("OBJECT IDENTIFIER from dotted form", () => {
    assert.equal(hex(oid("2.5.4.3")), "06 03 55 04 03");
    assert.equal(hex(oid("1.2.840.113549.1.1.11")), "06 09 2a 86 48 86 f7 0d 01 01 0b");
    assert.equal(hex(oid("1.3.6.1.5.5.7.3.1")), "06 08 2b 06 01 05 05 07 03 01");
    // First-arc 2 allows a second arc above 39 (X.690 §8.19.4 example).
    assert.equal(hex(oid("2.999.3")), "06 03 88 37 03");
    assert.throws(() => oid("1.40"), SyntaxError);
    assert.throws(() => oid("3.1"), SyntaxError);
    assert.throws(() => oid("1"), SyntaxError);
    assert.throws(() => oid("1.2.x"), SyntaxError);
  });

  await t.step("strings", () => {
    assert.equal(hex(utf8String("é")), "0c 02 c3 a9");
    assert.equal(hex(printableString("A b")), "13 03 41 20 62");
    assert.throws(() => printableString("a@b"), SyntaxError);
    assert.equal(hex(ia5String("a@b")), "16 03 61 40 62");
    assert.throws(() => ia5String("é"), SyntaxError);
  });

  await t.step("times: UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    const text = (b: Uint8Array) => new TextDecoder().decode(b.subarray(2));
    const d = new Date("2019-12-15T19:02:10.999Z");
    assert.equal(utcTime(d)[0], 0x17);
    assert.equal(text(utcTime(d)), "191215190210Z");
    assert.equal(text(generalizedTime(d)), "20191215190210Z");
    assert.equal(generalizedTime(d)[0], 0x18);

    const last = x509Time(new Date("2049-12-31T23:59:59Z"));
    assert.equal(last[0], 0x17);
    assert.equal(text(last), "491231235959Z");
    const first = x509Time(new Date("2050-01-01T00:00:00Z"));
    assert.equal(first[0], 0x18);
    assert.equal(text(first), "20500101000000Z");
    assert.equal(x509Time(new Date("1949-06-01T00:00:00Z"))[0], 0x18);
    assert.equal(text(x509Time(new Date("1950-01-01T00:00:00Z"))), "500101000000Z");

    assert.throws(() => utcTime(new Date("2050-01-01T00:00:00Z")), RangeError);
    assert.throws(() => x509Time(new Date("nope")), RangeError);
  });

  await t.step("BIT STRING and named bits drop trailing zero bits", () => {
    assert.equal(hex(bitString(Uint8Array.of(1, 2))), "03 03 00 01 02");
    assert.equal(hex(bitString(new Uint8Array(0))), "03 01 00");
    assert.throws(() => bitString(Uint8Array.of(0), 8), RangeError);
    // keyUsage digitalSignature + keyEncipherment, as OpenSSL encodes it.
    assert.equal(hex(namedBits([0, 2])), "03 02 05 a0");
    assert.equal(hex(namedBits([0])), "03 02 07 80");
    assert.equal(hex(namedBits([7])), "03 02 00 01");
    assert.equal(hex(namedBits([8])), "03 03 07 00 80");
    assert.equal(hex(namedBits([])), "03 01 00");
  });

  await t.step("NULL, BOOLEAN, OCTET STRING, context tags", () => {
    assert.equal(hex(nullValue()), "05 00");
    assert.equal(hex(boolean(true)), "01 01 ff");
    assert.equal(hex(boolean(false)), "01 01 00");
    assert.equal(hex(octetString(Uint8Array.of(0xab))), "04 01 ab");
    assert.equal(hex(explicit(0, smallInteger(2))), "a0 03 02 01 02");
    assert.equal(hex(explicit(3, sequence())), "a3 02 30 00");
    assert.equal(hex(implicitPrimitive(2, new TextEncoder().encode("a"))), "82 01 61");
    assert.equal(hex(implicitPrimitive(7, Uint8Array.of(127, 0, 0, 1))), "87 04 7f 00 00 01");
    assert.throws(() => explicit(31, nullValue()), RangeError);
  });

  await t.step("SET OF sorts its elements; SEQUENCE keeps order", () => {
    const a = smallInteger(1);
    const b = smallInteger(2);
    assert.equal(hex(set(b, a)), "31 06 02 01 01 02 01 02");
    assert.equal(hex(sequence(b, a)), "30 06 02 01 02 02 01 01");
  });
});
