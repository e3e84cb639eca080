/** Textual IP addresses to the octets of A and AAAA records (RFC 1035 §3.4.1, RFC 3596 §2.2). */

/** "192.0.2.1" → 4 octets; undefined when it is not a dotted quad of 0–255. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
  return octets.every((o) => o <= 255) ? Uint8Array.from(octets) : undefined;
}

/**
 * "2001:db8::1" (RFC 4291 §2.2: one "::" at most, an IPv4 tail allowed) → 16 octets; undefined
 * when it is not an IPv6 address.
 */
export function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array(missing).fill(0), ...tail];
  const octets = new Uint8Array(16);
  all.forEach((g, i) => {
    octets[2 * i] = g >> 8;
    octets[2 * i + 1] = g & 0xff;
  });
  return octets;
}
