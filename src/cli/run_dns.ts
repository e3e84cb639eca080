/**
 * The authoritative DNS server with its DKIM rotation timer: `--run=dns`, and part of
 * `--run=all` when `[dns] listen` is set. The process that serves the zone is the one that
 * rotates the keys, since it is the one that publishes them.
 */
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { rotationTimes } from "../dkim/current_keys.ts";
import type { RotationTimes } from "../dkim/rotation_schedule.ts";
import { rotateDkimKeys } from "../dkim/rotation_store.ts";
import { createLogger, type Logger } from "../log.ts";
import { type DnsServer, startDnsServer } from "../dns_server/server.ts";
import { ZoneSource } from "../dns_server/zone_source.ts";
import { prepareKeys } from "./setup.ts";
import { waitForStopSignal } from "./stop_signal.ts";

/** A running DNS service. */
export interface DnsService {
  server: DnsServer;
  close(): Promise<void>;
}

/** Starts the DNS server on `config().dns.listen` and the rotation timer. */
export async function startDnsService(config: () => Config, log: Logger): Promise<DnsService> {
  const zones = new ZoneSource(config);
  await zones.current(); // a broken key file shows at start, not on the first query
  const server = await startDnsServer({
    address: config().dns.listen,
    zone: () => zones.current(),
    log,
    rateLimit: () => config().dns.rate_limit,
  });
  const stopRotation = startRotationTimer(config, log);
  return {
    server,
    close: async () => {
      await stopRotation();
      await server.close();
    },
  };
}

/**
 * Steps the rotation often enough for the shortest delay (a quarter of it, between 250 ms and
 * a minute): a step that finds nothing due only reads the state file.
 */
function startRotationTimer(config: () => Config, log: Logger): () => Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    const c = config();
    const times = rotationTimes(c.dkim);
    running = (times ? step(c.keys_dir, times, log) : Promise.resolve()).finally(() => {
      if (!stopped) timer = setTimeout(tick, interval(times));
    });
  };
  tick();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

function interval(times: RotationTimes | undefined): number {
  if (!times) return 60_000;
  const shortest = Math.min(times.period, times.publishAhead, times.retireAfter);
  return Math.min(60_000, Math.max(250, Math.floor(shortest / 4)));
}

async function step(keysDir: string, times: RotationTimes, log: Logger): Promise<void> {
  try {
    const done = await rotateDkimKeys(keysDir, times, Date.now());
    if (done.created) log.info("dkim.rotate.published", { selector: done.created.selector });
    for (const selector of done.retired) log.info("dkim.rotate.retired", { selector });
  } catch (err) {
    log.error("dkim.rotate.failed", { error: (err as Error).message });
  }
}

/** `--run=dns`: the DNS server alone, until SIGTERM/SIGINT. */
export async function runDnsOnly(configPath: string | undefined): Promise<number> {
  const loaded = loadConfig(configPath);
  let config = loaded.config;
  const path = loaded.path;
  const log = createLogger(config.log_level, undefined, { node: config.node_id });
  if (config.dns.listen === "") {
    console.error('fsmtp: --run=dns needs dns.listen (e.g. "0.0.0.0:53") in the config');
    return 1;
  }
  for (const line of await prepareKeys(config)) log.info("setup.created", { what: line });
  const dns = await startDnsService(() => config, log);
  log.info("fsmtp.started", { config: path ?? "embedded defaults", hostname: config.hostname });
  console.log(`fsmtp: listening dns on ${dns.server.host}:${dns.server.port} (udp, tcp)`);
  // SIGHUP (systemctl reload) re-reads the config: records and rotation delays apply at once.
  const reload = () => {
    try {
      const next = loadConfig(configPath).config;
      if (next.dns.listen !== config.dns.listen) {
        log.warn("config.reload.needs_restart", { key: "dns" });
      }
      config = next;
      log.info("config.reloaded", { config: path ?? "embedded defaults" });
    } catch (err) {
      log.error("config.reload.failed", { error: (err as Error).message, kept: "old config" });
    }
  };
  Deno.addSignalListener("SIGHUP", reload);
  const signal = await waitForStopSignal();
  log.info("fsmtp.stopping", { signal });
  Deno.removeSignalListener("SIGHUP", reload);
  await dns.close();
  log.info("fsmtp.stopped");
  return 0;
}
