/**
 * The zone as it is now: rebuilt from the config and the DKIM keys at most every quarter
 * second, so rotated keys show up (and retired ones vanish) without a restart, while a flood
 * of queries does not read keys_dir once each.
 */
import type { Config } from "../config/config.ts";
import { type PublishedDkimKey, publishedDkimKeys } from "../dkim/current_keys.ts";
import { Zone } from "./zone.ts";
import { zoneRecords } from "./zone_records.ts";
import { RR_TYPE } from "./wire.ts";

const REFRESH_MS = 250;

/** Builds and caches the zone. */
export class ZoneSource {
  #zone: Promise<Zone> | undefined;
  #builtAt = 0;
  #content = "";
  /** RFC 1982 serial: the start time, then one more (at least the clock) per change. */
  #serial = Math.floor(Date.now() / 1000);

  constructor(readonly config: () => Config) {}

  /** The current zone. */
  current(): Promise<Zone> {
    const now = Date.now();
    if (!this.#zone || now - this.#builtAt >= REFRESH_MS) {
      this.#builtAt = now;
      const previous = this.#zone;
      this.#zone = this.#build(now).catch((err) => {
        // Keep answering from the last good zone (a key file mid-replacement, a full disk).
        if (previous) return previous;
        throw err;
      });
    }
    return this.#zone;
  }

  async #build(now: number): Promise<Zone> {
    const config = this.config();
    const dkim = new Map<string, PublishedDkimKey[]>();
    for (const domain of config.domains) {
      dkim.set(domain, await publishedDkimKeys(config.keys_dir, domain, config.dkim, now));
    }
    const build = (serial: number) => zoneRecords({ config, dkim, serial });
    const content = JSON.stringify(
      build(0).records.filter((rr) => rr.type !== RR_TYPE.SOA),
      (_, v) => v instanceof Uint8Array ? Array.from(v) : v,
    );
    if (content !== this.#content) {
      if (this.#content !== "") {
        this.#serial = Math.max(this.#serial + 1, Math.floor(now / 1000));
      }
      this.#content = content;
    }
    return new Zone(build(this.#serial));
  }
}
