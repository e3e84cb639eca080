/**
 * `fsmtp --run=smtp|all`: starts the servers, creating on first run what is missing (keys, data
 * folder); SIGHUP re-reads the config, SIGTERM/SIGINT shut down gracefully.
 */
import type { SecureContext } from "node:tls";
import { randomBytes } from "node:crypto";
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { createLogger } from "../log.ts";
import { ConnectionGate } from "../net/listener.ts";
import { loadTlsContext } from "../net/tls_context.ts";
import { LocalDelivery } from "../mail/local_delivery.ts";
import { type SmtpService, startSmtpService } from "../smtp/server.ts";
import type { SmtpPorts } from "../smtp/session.ts";
import { openStore, prepareKeys } from "./setup.ts";

/** The services `--run` accepts, and which exist yet. */
export const RUN_TARGETS = ["smtp", "pop3", "imap", "all"] as const;
const NOT_YET: Record<string, string> = {
  pop3: "POP3 (listen.pop3, listen.pop3s) is not built yet",
  imap: "IMAP (listen.imap, listen.imaps) is not built yet",
};

const SHUTDOWN_GRACE_MS = 30_000;

/** Runs until a signal stops it; returns the exit code. */
export async function runServers(target: string, configPath: string | undefined): Promise<number> {
  if (!(RUN_TARGETS as readonly string[]).includes(target)) {
    console.error(`fsmtp: --run takes one of ${RUN_TARGETS.join(", ")}, not "${target}"`);
    return 2;
  }
  if (NOT_YET[target]) {
    console.error(`fsmtp: ${NOT_YET[target]}; use --run=smtp or --run=all`);
    return 1;
  }
  let { config, path } = loadConfig(configPath);
  const log = createLogger(config.log_level);
  for (const line of await prepareKeys(config)) log.info("setup.created", { what: line });
  const store = openStore(config);
  let tls = loadTlsContext(config.tls.cert, config.tls.key);
  const delivery = new LocalDelivery(store, config.domains);
  const gate = new ConnectionGate(gateLimits(config));
  const ports = (): SmtpPorts => smtpPorts(config, tls, delivery);

  const services: SmtpService[] = [];
  if (config.listen.smtp !== "") {
    services.push(
      await startSmtpService({
        name: "smtp",
        address: config.listen.smtp,
        gate,
        log,
        ports,
        maxLineLength: () => config.limits.max_line_length,
      }),
    );
  }
  log.info("fsmtp.started", {
    config: path ?? "embedded defaults",
    hostname: config.hostname,
    domains: config.domains.join(","),
    node: config.node_id,
  });
  for (const s of services) {
    console.log(`fsmtp: listening ${s.listener.name} on ${s.listener.host}:${s.listener.port}`);
  }
  if (target === "all") {
    console.log(
      "fsmtp: not started (not built yet): submission, submissions, pop3, pop3s, imap, imaps",
    );
  }
  if (services.length === 0) {
    console.error("fsmtp: no listener is configured (listen.smtp is empty); nothing to do");
    await store.close();
    return 1;
  }

  const reload = () => {
    try {
      const next = loadConfig(configPath).config;
      tls = loadTlsContext(next.tls.cert, next.tls.key);
      for (const key of ["listen", "data_dir"] as const) {
        if (JSON.stringify(next[key]) !== JSON.stringify(config[key])) {
          log.warn("config.reload.needs_restart", { key });
        }
      }
      config = next;
      delivery.domains = config.domains;
      gate.limits = gateLimits(config);
      log.info("config.reloaded", { config: path ?? "embedded defaults" });
    } catch (err) {
      log.error("config.reload.failed", { error: (err as Error).message, kept: "old config" });
    }
  };
  Deno.addSignalListener("SIGHUP", reload);

  const stop = await waitForStopSignal();
  log.info("fsmtp.stopping", { signal: stop });
  Deno.removeSignalListener("SIGHUP", reload);
  await Promise.all(services.map((s) => s.shutdown(SHUTDOWN_GRACE_MS)));
  await store.close();
  log.info("fsmtp.stopped");
  return 0;
}

function gateLimits(config: Config) {
  return {
    maxConnections: config.limits.max_connections,
    maxConnectionsPerIp: config.limits.max_connections_per_ip,
  };
}

function smtpPorts(config: Config, tls: SecureContext, delivery: LocalDelivery): SmtpPorts {
  return {
    hostname: config.hostname,
    nodeId: config.node_id,
    tls,
    limits: {
      maxMessageSize: config.limits.max_message_size,
      maxRecipients: config.limits.max_recipients,
      maxErrors: config.limits.max_errors,
      commandTimeoutMs: config.limits.command_timeout,
    },
    postmaster: `postmaster@${config.domains[0]}`,
    checkRecipient: (address) => delivery.checkRecipient(address),
    deliver: (message) => delivery.deliver(message),
    now: () => new Date(),
    newId: () => randomBytes(6).toString("hex").toUpperCase(),
  };
}

function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const signals = ["SIGTERM", "SIGINT"] as const;
    const handlers = signals.map((sig) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(sig);
      };
      Deno.addSignalListener(sig, handler);
      return handler;
    });
  });
}
