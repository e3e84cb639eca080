/**
 * A throw-away Postfix instance as the benchmark peer: its own config_directory, queue, data and
 * Maildir folders in one temp folder, smtpd on a free 127.0.0.1 port, virtual Maildir delivery.
 * Needs root (Postfix's master runs as root and drops to `mail_owner`).
 */
import { join } from "node:path";
import {
  checkInterrupted,
  freePort,
  haveCommand,
  mustRun,
  registerCleanup,
  runProgram,
  sleep,
  waitUntil,
} from "./util.ts";

const SBIN = "/usr/sbin";

/** Options for the Postfix peer. */
export interface PostfixPeerOptions {
  /** The virtual domain mail is delivered for. */
  domain: string;
  /** Local parts of the mailboxes (each gets `<dir>/mail/<domain>/<local>/`, a Maildir). */
  users: string[];
  /** Domains Postfix relays to a fixed next hop, `domain → "127.0.0.1:port"` (transport_maps). */
  relayTo?: Record<string, string>;
  /** Send all other mail to this `host:port` (relayhost), 20 connections at once. */
  relayHost?: string;
  /** Offer STARTTLS on smtpd with this certificate (PEM); no TLS offered without it. */
  smtpdTls?: { certPem: string; keyPem: string };
  /** A milter for smtpd (`smtpd_milters`, e.g. OpenDKIM's `inet:127.0.0.1:port`). */
  milter?: string;
}

/** Installs postfix non-interactively when it is missing and we are root; throws otherwise. */
export async function ensurePostfix(): Promise<void> {
  if (await haveCommand("postfix") && await haveCommand("smtp-source")) return;
  if (Deno.uid() !== 0) {
    throw new Error("postfix (and its smtp-source) is missing; install the Debian package postfix");
  }
  console.error("bench: installing postfix (apt-get) ...");
  await mustRun("sh", [
    "-c",
    'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections' +
    " && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix" +
    " || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix)",
  ]);
}

/** A running Postfix instance. */
export class PostfixPeer {
  private started = false;
  private unregister = () => {};

  private constructor(
    /** The temp folder holding everything of this instance. */
    readonly dir: string,
    /** The SMTP port smtpd listens on (127.0.0.1). */
    readonly port: number,
    readonly opts: PostfixPeerOptions,
  ) {}

  /** The config_directory (main.cf, master.cf). */
  get configDir(): string {
    return join(this.dir, "etc");
  }

  /** Postfix's own log file (maillog_file). */
  get logFile(): string {
    return join(this.dir, "maillog");
  }

  /** The Maildir of one user. */
  maildir(user: string): string {
    return join(this.dir, "mail", this.opts.domain, user);
  }

  /**
   * Writes the configuration and starts Postfix; resolves once smtpd answers with 220.
   * On failure the instance is stopped and its folder removed. Until `cleanup`, an interrupted
   * benchmark stops it and removes the folder (registerCleanup).
   */
  static async start(opts: PostfixPeerOptions): Promise<PostfixPeer> {
    if (Deno.uid() !== 0) throw new Error("the Postfix peer needs root (postfix start)");
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-postfix-" });
    const peer = new PostfixPeer(dir, freePort(), opts);
    peer.unregister = registerCleanup(async () => {
      await peer.stop();
      await peer.cleanup();
    });
    try {
      await peer.configure();
      checkInterrupted();
      peer.started = true;
      await mustRun(`${SBIN}/postfix`, ["-c", peer.configDir, "start"]);
      await waitUntil(() => peer.greets(), 30_000, "Postfix smtpd to answer", 100);
      return peer;
    } catch (e) {
      await peer.stop().catch(() => {});
      await peer.cleanup();
      throw e;
    }
  }

  private async configure(): Promise<void> {
    const { dir, opts } = this;
    const nobody = 65534; // a non-root uid the virtual(8) agent accepts (virtual_minimum_uid)
    // makeTempDir makes 0700; the postfix user and the delivery uid must get through it.
    await Deno.chmod(dir, 0o755);
    for (const sub of ["etc", "queue", "data", "mail"]) await Deno.mkdir(join(dir, sub));
    await Deno.chown(join(dir, "data"), await uidOf("postfix"), null);
    await Deno.chown(join(dir, "mail"), nobody, nobody);
    for (const user of opts.users) {
      const box = this.maildir(user);
      for (const sub of ["new", "cur", "tmp"]) {
        await Deno.mkdir(join(box, sub), { recursive: true });
      }
    }
    await mustRun("chown", ["-R", `${nobody}:${nobody}`, join(dir, "mail")]);

    const vmailbox = join(this.configDir, "vmailbox");
    await Deno.writeTextFile(
      vmailbox,
      opts.users.map((u) => `${u}@${opts.domain} ${opts.domain}/${u}/\n`).join(""),
    );
    const transport = join(this.configDir, "transport");
    const relayTo = Object.entries(opts.relayTo ?? {});
    await Deno.writeTextFile(
      transport,
      relayTo.map(([domain, hop]) => {
        const [host, port] = hop.split(":");
        return `${domain} smtp:[${host}]:${port}\n`;
      }).join(""),
    );
    const tls: Record<string, string> = {};
    if (opts.smtpdTls) {
      const cert = join(this.configDir, "smtpd-cert.pem");
      const key = join(this.configDir, "smtpd-key.pem");
      await Deno.writeTextFile(cert, opts.smtpdTls.certPem);
      await Deno.writeTextFile(key, opts.smtpdTls.keyPem, { mode: 0o600 });
      Object.assign(tls, {
        smtpd_tls_security_level: "may",
        smtpd_tls_cert_file: cert,
        smtpd_tls_key_file: key,
        smtpd_tls_received_header: "yes",
        smtpd_tls_loglevel: "1",
      });
    }
    const main: Record<string, string> = {
      ...tls,
      compatibility_level: "3.6",
      queue_directory: join(dir, "queue"),
      data_directory: join(dir, "data"),
      mail_owner: "postfix",
      setgid_group: "postdrop",
      myhostname: "postfix.bench.invalid",
      mydomain: "bench.invalid",
      myorigin: "$myhostname",
      mydestination: "",
      relay_domains: relayTo.map(([domain]) => domain).join(" "),
      transport_maps: `texthash:${transport}`,
      smtp_tls_security_level: opts.relayHost ? "none" : "may",
      ...(opts.relayHost
        ? {
          relayhost: `[${opts.relayHost.split(":")[0]}]:${opts.relayHost.split(":")[1]}`,
          default_destination_concurrency_limit: "20",
        }
        : {}),
      ...(opts.milter
        ? {
          smtpd_milters: opts.milter,
          // A milter that fails must show as failed mail, not as unsigned mail relayed.
          milter_default_action: "tempfail",
        }
        : {}),
      inet_interfaces: "loopback-only",
      inet_protocols: "ipv4",
      mynetworks: "127.0.0.0/8",
      disable_dns_lookups: "yes",
      smtp_host_lookup: "native",
      smtpd_peername_lookup: "no",
      alias_maps: "",
      alias_database: "",
      local_recipient_maps: "",
      append_dot_mydomain: "no",
      biff: "no",
      readme_directory: "no",
      virtual_mailbox_domains: opts.domain,
      virtual_mailbox_base: join(dir, "mail"),
      virtual_mailbox_maps: `texthash:${vmailbox}`,
      virtual_mailbox_limit: "0",
      virtual_uid_maps: `static:${nobody}`,
      virtual_gid_maps: `static:${nobody}`,
      smtpd_client_connection_count_limit: "0",
      smtpd_client_connection_rate_limit: "0",
      smtpd_client_message_rate_limit: "0",
      smtpd_client_recipient_rate_limit: "0",
      smtpd_client_event_limit_exceptions: "",
      maillog_file: join(dir, "maillog"),
      maillog_file_prefixes: dir, // the default (/var, /dev/stdout) refuses a temp folder
      syslog_name: "postfix-bench",
    };
    await Deno.writeTextFile(
      join(this.configDir, "main.cf"),
      Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join(""),
    );
    // Only the services this benchmark touches; chroot off everywhere.
    const master = [
      `127.0.0.1:${this.port} inet n - n - - smtpd`,
      "pickup unix n - n 60 1 pickup",
      "cleanup unix n - n - 0 cleanup",
      "qmgr unix n - n 300 1 qmgr",
      "rewrite unix - - n - - trivial-rewrite",
      "bounce unix - - n - 0 bounce",
      "defer unix - - n - 0 bounce",
      "trace unix - - n - 0 bounce",
      "verify unix - - n - 1 verify",
      "flush unix n - n 1000? 0 flush",
      "proxymap unix - - n - - proxymap",
      "proxywrite unix - - n - 1 proxymap",
      "smtp unix - - n - - smtp",
      "relay unix - - n - - smtp",
      "showq unix n - n - - showq",
      "error unix - - n - - error",
      "retry unix - - n - - error",
      "discard unix - - n - - discard",
      "local unix - n n - - local",
      "virtual unix - n n - - virtual",
      "lmtp unix - - n - - lmtp",
      "anvil unix - - n - 1 anvil",
      "scache unix - - n - 1 scache",
      "postlog unix-dgram n - n - 1 postlogd",
      ...(opts.smtpdTls ? ["tlsmgr unix - - n 1000? 1 tlsmgr"] : []),
    ];
    await Deno.writeTextFile(join(this.configDir, "master.cf"), master.join("\n") + "\n");
    await mustRun(`${SBIN}/postconf`, ["-c", this.configDir, "-F", "*/*/chroot = n"]);
  }

  /** Whether smtpd accepts a connection and sends 220. */
  private async greets(): Promise<boolean> {
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
      const buf = new Uint8Array(512);
      const n = await conn.read(buf);
      return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("220");
    } catch {
      return false;
    } finally {
      try {
        conn?.close();
      } catch { /* closed */ }
    }
  }

  /** Number of messages in the `new/` folders of all mailboxes (delivered to disk). */
  async delivered(): Promise<number> {
    let n = 0;
    for (const user of this.opts.users) {
      for await (const _ of Deno.readDir(join(this.maildir(user), "new"))) n++;
    }
    return n;
  }

  /** The last lines of Postfix's log, for error messages. */
  async logTail(lines = 30): Promise<string> {
    try {
      return (await Deno.readTextFile(this.logFile)).split("\n").slice(-lines).join("\n");
    } catch {
      return "(no maillog)";
    }
  }

  /** `postfix stop`, then waits for the master process to exit (abort after 15 s). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const pid = await this.masterPid();
    await runProgram(`${SBIN}/postfix`, ["-c", this.configDir, "stop"]);
    if (pid === undefined) return;
    try {
      await waitUntil(() => !alive(pid), 15_000, "the Postfix master to exit", 100);
    } catch {
      await runProgram(`${SBIN}/postfix`, ["-c", this.configDir, "abort"]);
      await sleep(500);
    }
  }

  private async masterPid(): Promise<number | undefined> {
    try {
      const text = await Deno.readTextFile(join(this.dir, "queue", "pid", "master.pid"));
      const pid = Number(text.trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Removes the temp folder (kept when FSMTP_BENCH_KEEP is set, for debugging). */
  async cleanup(): Promise<void> {
    this.unregister();
    if (Deno.env.get("FSMTP_BENCH_KEEP")) return console.error(`bench: kept ${this.dir}`);
    // Delivery agents may still be finishing a file right after the master exited: retry.
    for (let attempt = 1;; attempt++) {
      try {
        await Deno.remove(this.dir, { recursive: true });
        return;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        if (attempt === 20) {
          console.error(`bench: could not remove ${this.dir}: ${e}`);
          return;
        }
        await sleep(250);
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function uidOf(user: string): Promise<number> {
  const uid = Number((await mustRun("id", ["-u", user])).trim());
  if (!Number.isInteger(uid)) throw new Error(`no uid for ${user}`);
  return uid;
}
