/**
 * The Redis checks of `fsmtp --test`: reachable, and a write, read and delete of a probe key.
 * Each failure says why and what to do.
 */
import { randomBytes } from "node:crypto";
import type { Config } from "../config/config.ts";
import { closeRedis, connectRedis, KEY_PREFIX, whenReady } from "../store/redis/redis_link.ts";
import { redisUrlForDisplay } from "./redis_services.ts";

/** A check of `--test`: a name, and a run that returns the OK detail or throws the reason. */
export interface RedisCheck {
  name: string;
  run: () => Promise<string>;
}

/** How long `--test` waits for Redis. */
const WAIT_MS = 3_000;

/**
 * The checks: one line saying Redis is not used when `redis.url` is empty; otherwise
 * "redis" (reachable, server version) and "redis round trip" (SET, GET, DEL of a probe key).
 */
export function redisChecks(config: Config): RedisCheck[] {
  const url = config.redis.url;
  if (url === "") {
    return [{
      name: "redis",
      run: () => Promise.resolve("redis.url is not set: one node, no shared cache (optional)"),
    }];
  }
  const shown = redisUrlForDisplay(url);
  let client: ReturnType<typeof connectRedis> | undefined;
  let reachable = false;
  return [
    {
      name: "redis",
      run: async () => {
        client = connectRedis(url, { name: `fsmtp-${config.node_id}-test` });
        client.on("error", () => {}); // whenReady reports the last error
        try {
          await whenReady(client, WAIT_MS);
        } catch (err) {
          throw new Error(
            `cannot reach ${shown} (redis.url): ${(err as Error).message}; start redis-server ` +
              `there or correct redis.url`,
          );
        }
        reachable = true;
        const info = await client.info("server");
        const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown version";
        return `${shown} answers (Redis ${version})`;
      },
    },
    {
      name: "redis round trip",
      run: async () => {
        try {
          if (!client || !reachable) throw new Error("skipped: Redis is not reachable (above)");
          const key = `${KEY_PREFIX}selftest:${randomBytes(8).toString("hex")}`;
          const value = randomBytes(8).toString("hex");
          try {
            await client.set(key, value, "PX", 60_000);
            const back = await client.get(key);
            if (back !== value) {
              throw new Error(`read back ${JSON.stringify(back)} instead of what was written`);
            }
            if ((await client.del(key)) !== 1) throw new Error("the probe key was not deleted");
          } catch (err) {
            throw new Error(
              `SET/GET/DEL on ${shown} failed: ${(err as Error).message}; check that this Redis ` +
                `accepts writes (not a read-only replica, maxmemory, ACL)`,
            );
          }
          return `SET, GET and DEL of a probe key on ${shown}`;
        } finally {
          if (client) await closeRedis(client);
        }
      },
    },
  ];
}
