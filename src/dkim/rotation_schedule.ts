/**
 * When each rotated DKIM key signs, is published and is withdrawn: a pure function of the keys'
 * publication times, the delays and the clock, so every process that reads the same state file
 * (the SMTP node signing, the DNS server publishing) reaches the same answer without talking
 * to the others.
 *
 * A key published at P signs from P + publish_ahead (resolvers have seen it by then) until the
 * next key starts signing at E; it stays published until E + retire_after so mail signed with
 * it and still in flight verifies; then it is withdrawn and its private key deleted. The fixed
 * key (`dkim-private.pem` under `[dkim] selector`) counts as published since forever and signs
 * until the first rotated key does.
 */

/** One rotated key as the state file records it. */
export interface RotatedKey {
  /** `s=` of its signatures; the TXT record lives at `<selector>._domainkey.<domain>`. */
  selector: string;
  /** Unix milliseconds when it was first published. */
  publishedAt: number;
  /** The TXT record value publishing its public key (RFC 6376 §3.6.1). */
  txt: string;
}

/** The delays of `[dkim]`, in milliseconds. */
export interface RotationTimes {
  /** rotate: a new key this long after the newest one. */
  period: number;
  publishAhead: number;
  retireAfter: number;
}

/** What holds at one instant. */
export interface RotationPhase {
  /** The key that signs; undefined while the fixed key still does. */
  signing: RotatedKey | undefined;
  /** Whether the fixed key is still published. */
  fixedPublished: boolean;
  /** Rotated keys published now, oldest first (pending, signing and retiring ones). */
  published: RotatedKey[];
  /** Rotated keys past their retirement: to withdraw and delete. */
  expired: RotatedKey[];
  /** Whether a new key is due (none yet, or the newest is a period old). */
  due: boolean;
}

/** The phase at `now` of `keys` (any order). */
export function rotationPhase(
  keys: readonly RotatedKey[],
  times: RotationTimes,
  now: number,
): RotationPhase {
  const sorted = [...keys].sort((a, b) => a.publishedAt - b.publishedAt);
  const startsSigning = (k: RotatedKey) => k.publishedAt + times.publishAhead;
  let active = -1;
  sorted.forEach((k, i) => {
    if (startsSigning(k) <= now) active = i;
  });
  const published: RotatedKey[] = [];
  const expired: RotatedKey[] = [];
  sorted.forEach((k, i) => {
    // A key before the signing one stopped signing when its successor started.
    const stopped = i < active ? startsSigning(sorted[i + 1]) : undefined;
    (stopped !== undefined && now >= stopped + times.retireAfter ? expired : published).push(k);
  });
  const newest = sorted[sorted.length - 1];
  return {
    signing: active >= 0 ? sorted[active] : undefined,
    fixedPublished: active < 0 || now < startsSigning(sorted[0]) + times.retireAfter,
    published,
    expired,
    due: newest === undefined || now >= newest.publishedAt + times.period,
  };
}

/**
 * A fresh selector for a key published at `now`: `fsmtp-YYYYMMDD` (UTC), with `-HHMMSS` when
 * keys come more often than daily, and `-2`, `-3`… when that name was used already (a manual
 * `--dkim-rotate` the same day). Selectors are DNS labels (RFC 6376 §3.1).
 */
export function newSelector(now: number, period: number, taken: ReadonlySet<string>): string {
  const iso = new Date(now).toISOString();
  const day = iso.slice(0, 10).replaceAll("-", "");
  const base = period < 86_400_000 || taken.has(`fsmtp-${day}`)
    ? `fsmtp-${day}-${iso.slice(11, 19).replaceAll(":", "")}`
    : `fsmtp-${day}`;
  if (!taken.has(base)) return base;
  for (let n = 2;; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
