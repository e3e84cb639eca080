/**
 * `fsmtp --run=smtp|pop3|imap|dns|all`: starts the servers, creating on first run what is missing
 * (keys, data folder); SIGHUP re-reads the config, SIGTERM/SIGINT shut down gracefully.
 */
import { rsaPool } from "../crypto/rsa_pool.ts";
import type { SecureContext } from "node:tls";
import type { ListenerKey } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { createLogger, type Logger } from "../log.ts";
import { ConnectionGate } from "../net/listener.ts";
import { type Service, startService } from "../net/service.ts";
import { QuietCollector } from "../net/collect_garbage.ts";
import { loadTlsContext } from "../net/tls_context.ts";
import { formatReply } from "../smtp/reply.ts";
import { SmtpSession } from "../smtp/session.ts";
import { Pop3Session } from "../pop3/session.ts";
import { ImapSession } from "../imap/session.ts";
import { Runtime } from "./runtime.ts";
import { deliverToDomain } from "../smtp_client/deliver.ts";
import { deliveryOptions } from "../mail/delivery_options.ts";
import { openStore, prepareKeys } from "./setup.ts";
import { openNodeServices } from "./redis_services.ts";
import { certificateFileExpiryWarning } from "../tls/cert_expiry.ts";
import { type DnsService, runDnsOnly, startDnsService } from "./run_dns.ts";
import { waitForStopSignal } from "./stop_signal.ts";
import { type HttpService, startHttpServer } from "../http/server.ts";
import { httpPorts } from "./http_ports.ts";
import { timedStore } from "../metrics/timed_store.ts";
import { trackDeliveryStatus } from "../queue/status_tracking_queue.ts";

/** The services `--run` accepts. */
export const RUN_TARGETS = ["smtp", "pop3", "imap", "http", "dns", "all"] as const;

/** The listeners each target starts. */
const TARGET_LISTENERS: Record<string, ListenerKey[]> = {
  smtp: ["smtp", "submission", "submissions"],
  pop3: ["pop3", "pop3s"],
  imap: ["imap", "imaps"],
  http: [],
  all: ["smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps"],
};
const IMPLICIT_TLS: ListenerKey[] = ["submissions", "pop3s", "imaps"];
/** IMAP command lines carry long UID sets: Dovecot allows 64 KiB (imap_max_line_length). */
const IMAP_MAX_LINE = 64 * 1024;

const SHUTDOWN_GRACE_MS = 30_000;
/** Quiet time after the last new connection before a collection, and the least interval. */
const QUIET_COLLECTION_MS = 3_000;
const QUIET_COLLECTION_INTERVAL_MS = 10_000;

/** Runs until a signal stops it; returns the exit code. */
export async function runServers(target: string, configPath: string | undefined): Promise<number> {
  if (!(RUN_TARGETS as readonly string[]).includes(target)) {
    console.error(`fsmtp: --run takes one of ${RUN_TARGETS.join(", ")}, not "${target}"`);
    return 2;
  }
  if (target === "dns") return await runDnsOnly(configPath);
  const { config, path } = loadConfig(configPath);
  // node_id on every line: several nodes may write to one log store (issue 10).
  const log = createLogger(config.log_level, undefined, { node: config.node_id });
  for (const line of await prepareKeys(config)) log.info("setup.created", { what: line });
  const paths = { certPath: config.tls.cert, keyPath: config.tls.key };
  const expiring = certificateFileExpiryWarning(paths);
  if (expiring) log.warn("tls.cert_expiring", { what: expiring });
  // With redis.url: the change feed, STATUS cache and coordinator shared by the nodes.
  const node = await openNodeServices(config, log, (changes) => openStore(config, changes));
  const runtime = new Runtime(
    config,
    loadTlsContext(config.tls.cert, config.tls.key),
    timedStore(node.store),
    // API messages keep their per-recipient status after the queue forgets them.
    trackDeliveryStatus(
      node.primary.queue,
      node.primary.deliveryStatus,
      (err) => log.warn("http.status.record_failed", { error: (err as Error).message }),
    ),
    node.coordinator,
  );
  // A login's bulk re-wrap runs on these (POP3 and IMAP reads, SMTP AUTH logins).
  if (target !== "smtp") rsaPool.warm();
  const gate = new ConnectionGate(runtime.gateLimits());
  // With Redis: limits.max_connections_per_ip counts the connections on every node.
  gate.shared = node.coordinator.connectionsPerIp?.(() => gate.limits.maxConnectionsPerIp);

  const services: Service[] = [];
  let dns: DnsService | undefined;
  let http: HttpService | undefined;
  // After start-up and after each burst of connections, once quiet: see QuietCollector.
  const quiet = new QuietCollector(QUIET_COLLECTION_MS, QUIET_COLLECTION_INTERVAL_MS);
  try {
    if (target === "all" && config.dns.listen !== "") {
      dns = await startDnsService(() => runtime.config, log);
    }
    for (const key of TARGET_LISTENERS[target]) {
      const address = config.listen[key];
      if (address !== "") {
        services.push(await startOne(key, address, runtime, gate, log, () => quiet.activity()));
      }
    }
    if ((target === "http" || target === "all") && config.http.listen !== "") {
      http = await startHttpServer(
        config.http.listen,
        // Looked up per connection: SIGHUP renews it, as for the mail listeners.
        () => runtime.tls,
        config.http.tls === "always",
        httpPorts(runtime, node.primary, node.coordinator, log),
        gate,
      );
    }
  } catch (err) {
    await http?.shutdown();
    await Promise.all(services.map((s) => s.shutdown(0)));
    await dns?.close();
    await node.close();
    throw err;
  }
  log.info("fsmtp.started", {
    config: path ?? "embedded defaults",
    hostname: config.hostname,
    domains: config.domains.join(","),
  });
  if (dns) console.log(`fsmtp: listening dns on ${dns.server.host}:${dns.server.port} (udp, tcp)`);
  if (http) {
    const scheme = http.tls ? "https" : "http";
    console.log(`fsmtp: listening http on ${http.host}:${http.port} (${scheme})`);
  }
  for (const s of services) {
    console.log(`fsmtp: listening ${s.listener.name} on ${s.listener.host}:${s.listener.port}`);
  }
  if (services.length === 0 && !http && !dns) {
    console.error(
      target === "http"
        ? "fsmtp: --run=http needs [http] listen (it is empty)"
        : `fsmtp: every listener of --run=${target} is disabled in [listen]`,
    );
    await node.close();
    return 1;
  }

  quiet.activity();
  runtime.startQueue(
    (domain, messages, onOutcome) =>
      deliverToDomain(domain, messages, deliveryOptions(runtime.config, log), onOutcome),
    log,
  );

  const reload = () => {
    try {
      const next = loadConfig(configPath).config;
      const tls = loadTlsContext(next.tls.cert, next.tls.key);
      for (const key of ["listen", "data_dir", "node_id", "redis"] as const) {
        if (JSON.stringify(next[key]) !== JSON.stringify(runtime.config[key])) {
          log.warn("config.reload.needs_restart", { key });
        }
      }
      // The DNS records follow the new config at once; only its address needs a restart.
      if (next.dns.listen !== runtime.config.dns.listen) {
        log.warn("config.reload.needs_restart", { key: "dns.listen" });
      }
      runtime.update(next, tls);
      gate.limits = runtime.gateLimits();
      log.info("config.reloaded", { config: path ?? "embedded defaults" });
      // A reload also makes the queue look again: `--queue retry` from another process is
      // then acted on at once (`fsmtp --queue retry all && systemctl reload fsmtp`).
      runtime.kickQueue();
    } catch (err) {
      log.error("config.reload.failed", { error: (err as Error).message, kept: "old config" });
    }
  };
  Deno.addSignalListener("SIGHUP", reload);

  const stop = await waitForStopSignal();
  log.info("fsmtp.stopping", { signal: stop });
  Deno.removeSignalListener("SIGHUP", reload);
  await http?.shutdown();
  await Promise.all(services.map((s) => s.shutdown(SHUTDOWN_GRACE_MS)));
  await dns?.close();
  quiet.cancel();
  await runtime.stopQueue();
  await node.close();
  log.info("fsmtp.stopped");
  return 0;
}

function startOne(
  key: ListenerKey,
  address: string,
  runtime: Runtime,
  gate: ConnectionGate,
  log: Logger,
  onConnection: () => void,
): Promise<Service> {
  const config = () => runtime.config;
  const implicitTls = IMPLICIT_TLS.includes(key) ? (): SecureContext => runtime.tls : undefined;
  const pop3 = key === "pop3" || key === "pop3s";
  const imap = key === "imap" || key === "imaps";
  return startService({
    name: key,
    address,
    gate,
    log,
    implicitTls,
    // As long as a STARTTLS handshake may take (runtime.ts handshakeTimeoutMs).
    handshakeTimeoutMs: () => config().limits.command_timeout,
    refusal: refusal(key, config().hostname),
    limits: () => ({
      maxLineLength: imap
        ? Math.max(config().limits.max_line_length, IMAP_MAX_LINE)
        : config().limits.max_line_length,
      // RFC 1939 §3: a POP3 autologout timer must be at least 10 minutes. IMAP sets its own.
      timeoutMs: pop3
        ? Math.max(config().limits.command_timeout, 600_000)
        : config().limits.command_timeout,
      // The slow-client rules are the same for every protocol; content gets the command
      // timeout as its grace, not POP3's or IMAP's longer idle times.
      pace: {
        lineDeadlineMs: config().limits.line_deadline,
        minDataRate: config().limits.min_data_rate,
        dataGraceMs: config().limits.command_timeout,
      },
    }),
    onConnection,
    createSession: (conn, sessionLog) => {
      if (pop3) return new Pop3Session(conn, runtime.pop3Ports(), sessionLog);
      if (imap) return new ImapSession(conn, runtime.imapPorts(), sessionLog);
      return new SmtpSession(
        conn,
        runtime.smtpPorts(key === "smtp" ? "mx" : "submission"),
        sessionLog,
      );
    },
  });
}

/** The line a client over the connection limits gets, in its protocol's words. */
function refusal(key: ListenerKey, hostname: string): string {
  if (key === "pop3" || key === "pop3s") {
    return "-ERR [SYS/TEMP] Too many connections, try again later\r\n";
  }
  if (key === "imap" || key === "imaps") return "* BYE Too many connections, try again later\r\n";
  return formatReply({
    code: 421,
    enhanced: "4.7.0",
    text: `${hostname} Too many connections, try again later`,
  });
}
