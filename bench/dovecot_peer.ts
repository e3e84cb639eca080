/**
 * A throw-away Dovecot POP3 (and optionally IMAP) server as the benchmark peer: its own config
 * file, base_dir, state_dir, log, passwd-file and Maildirs in one temp folder, POP3 and IMAP
 * without TLS on free 127.0.0.1 ports (`dovecot -c FILE`). Long-lived processes, as DESIGN.md
 * asks for a fair peer: pop3-login and imap-login serve many connections (`service_count = 0`,
 * two kept ready) and a pop3 or imap process serves 100 sessions. Needs root (Dovecot's master
 * runs as root and drops privileges); mail is accessed as `nobody`.
 *
 * With `mailCrypt`, the mail_crypt plugin encrypts what is saved from then on, in folder-keys
 * mode: each user has a P-256 key pair whose private half is encrypted with the user's login
 * password (`mail_crypt_require_encrypted_user_key`; the password reaches the plugin as the
 * userdb field `mail_crypt_private_password`, set by the passdb from `%w`, the password the
 * client logged in with), INBOX has its own key pair sealed with the user's, and every message
 * gets a random AES-256-GCM key sealed with the folder's (`mail_crypt_save_version = 2`). Keys
 * are mailbox attributes, hence `mail_attribute_dict`. Make the user keys with `generateKeys`
 * before saving mail; messages written by `start` itself are plain files, as before.
 */
import { join } from "node:path";
import {
  checkInterrupted,
  collect,
  freePort,
  haveCommand,
  mustRun,
  registerCleanup,
  runProgram,
  sleep,
  waitUntil,
} from "./util.ts";

const DOVECOT = "/usr/sbin/dovecot";
const DOVEADM = "/usr/bin/doveadm";
/** The POP3 binary, from dovecot-pop3d (dovecot-core alone has none). */
const POP3_BINARY = "/usr/lib/dovecot/pop3";
/** The IMAP binary, from dovecot-imapd. */
const IMAP_BINARY = "/usr/lib/dovecot/imap";
/** The mail_crypt plugin, part of Debian's dovecot-core. */
const MAIL_CRYPT_PLUGIN = "/usr/lib/dovecot/modules/lib10_mail_crypt_plugin.so";
const NOBODY = 65534; // nobody:nogroup on Debian

/**
 * Installs dovecot-core and dovecot-pop3d (and dovecot-imapd with `imap`) non-interactively
 * when missing and root.
 */
export async function ensureDovecot(imap = false): Promise<void> {
  const binaries = [POP3_BINARY, ...(imap ? [IMAP_BINARY, MAIL_CRYPT_PLUGIN] : [])];
  if (
    await haveCommand("dovecot") && await haveCommand("doveadm") && binaries.every(exists)
  ) return;
  const packages = `dovecot-core dovecot-pop3d${imap ? " dovecot-imapd" : ""}`;
  if (Deno.uid() !== 0) {
    throw new Error(`dovecot is missing; install the Debian packages ${packages}`);
  }
  console.error(`bench: installing ${packages} (apt-get) ...`);
  const install = `DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages}`;
  await mustRun("sh", ["-c", `${install} || (apt-get update && ${install})`]);
}

/** One mailbox of the peer. */
export interface DovecotAccount {
  user: string;
  password: string;
}

/** What to run besides POP3. */
export interface DovecotOptions {
  /** Also serve IMAP (plain, on a free 127.0.0.1 port). */
  imap?: boolean;
  /** Encrypt saved mail with the mail_crypt plugin (see the module comment). */
  mailCrypt?: boolean;
  /** More accounts besides the first, each with its own Maildir (and keys). */
  more?: DovecotAccount[];
}

/** A running Dovecot instance. */
export class DovecotPeer {
  /** The master process (`dovecot -F`, in the foreground: ours to wait for). */
  private master: Deno.ChildProcess | undefined;
  /** What the master printed (config errors before logging starts). */
  private readonly output = { text: "" };
  private unregister = () => {};

  private constructor(
    /** The temp folder holding everything of this instance. */
    readonly dir: string,
    /** The POP3 port (127.0.0.1, no TLS). */
    readonly port: number,
    readonly account: DovecotAccount,
    /** The IMAP port (127.0.0.1, no TLS); undefined unless started with `imap`. */
    readonly imapPort: number | undefined,
    /** Every account, the first one first. */
    readonly accounts: DovecotAccount[],
    readonly mailCrypt: boolean,
  ) {}

  /** The master's pid (its process tree is the server, for CPU time). */
  get pid(): number {
    if (!this.master) throw new Error("dovecot is not started");
    return this.master.pid;
  }

  /** The config file given to `dovecot -c` and `doveadm -c`. */
  get configFile(): string {
    return join(this.dir, "dovecot.conf");
  }

  /** Dovecot's log file (log_path). */
  get logFile(): string {
    return join(this.dir, "dovecot.log");
  }

  /** The first account's Maildir. */
  get maildir(): string {
    return this.maildirOf(this.account.user);
  }

  /** The home folder of `user` (`home` in the userdb). */
  homeOf(user: string): string {
    return join(this.dir, "home", user);
  }

  /** The Maildir of `user` (`mail_location = maildir:~/Maildir`). */
  maildirOf(user: string): string {
    return join(this.homeOf(user), "Maildir");
  }

  /**
   * Writes the config, fills the Maildir with `messages` (CRLF text, as an MTA would have
   * delivered them; stored with LF line ends, as Maildir files are) and starts Dovecot; resolves
   * once POP3 greets. On failure the instance is stopped and its folder removed. Until
   * `cleanup`, an interrupted benchmark stops it and removes the folder (registerCleanup).
   */
  static async start(
    account: DovecotAccount,
    messages: string[],
    opts: DovecotOptions = {},
  ): Promise<DovecotPeer> {
    if (Deno.uid() !== 0) throw new Error("the Dovecot peer needs root (dovecot's master)");
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-dovecot-" });
    const peer = new DovecotPeer(
      dir,
      freePort(),
      account,
      opts.imap ? freePort() : undefined,
      [account, ...(opts.more ?? [])],
      opts.mailCrypt ?? false,
    );
    peer.unregister = registerCleanup(async () => {
      await peer.stop();
      await peer.cleanup();
    });
    try {
      await peer.configure();
      await peer.fill(messages);
      await peer.spawn();
      return peer;
    } catch (e) {
      await peer.stop().catch(() => {});
      await peer.cleanup();
      throw e;
    }
  }

  private async configure(): Promise<void> {
    const { dir } = this;
    // makeTempDir makes 0700; the login processes (dovenull) and mail processes (nobody) must
    // get through it.
    await Deno.chmod(dir, 0o755);
    for (const { user } of this.accounts) {
      for (const sub of ["new", "cur", "tmp"]) {
        await Deno.mkdir(join(this.maildirOf(user), sub), { recursive: true });
      }
    }
    const passwd = join(dir, "passwd");
    await Deno.writeTextFile(
      passwd,
      this.accounts.map((a) => `${a.user}:{PLAIN}${a.password}::::::\n`).join(""),
    );
    const config = `# fsmtp benchmark peer, written by bench/dovecot_peer.ts
protocols = ${this.imapPort === undefined ? "pop3" : "imap pop3"}
listen = 127.0.0.1
base_dir = ${join(dir, "run")}
state_dir = ${join(dir, "state")}
instance_name = fsmtp-bench-${this.port}
log_path = ${this.logFile}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${passwd}
${this.mailCrypt ? "  override_fields = userdb_mail_crypt_private_password=%w\n" : ""}}
userdb {
  driver = static
  args = uid=${NOBODY} gid=${NOBODY} home=${join(dir, "home", "%u")}
}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${this.port}
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
}
service pop3 {
  service_count = 100
  process_limit = 100
}
${this.imapPort === undefined ? "" : this.imapConfig()}`;
    await Deno.writeTextFile(this.configFile, config);
  }

  /**
   * The IMAP part of the config: long-lived imap-login processes, an imap process per session
   * kept for 100 sessions, room for a thousand sessions (of one user, too), and mail_crypt.
   */
  private imapConfig(): string {
    const crypt = this.mailCrypt
      ? `mail_attribute_dict = file:%h/dovecot-attributes
mail_plugins = $mail_plugins mail_crypt
plugin {
  mail_crypt_curve = prime256v1
  mail_crypt_save_version = 2
  mail_crypt_require_encrypted_user_key = yes
}
`
      : "";
    return `service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${this.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 2000
}
service imap {
  service_count = 100
  process_limit = 1100
}
default_client_limit = 2000
protocol imap {
  mail_max_userip_connections = 1100
}
${crypt}`;
  }

  /**
   * Makes `account`'s mail_crypt key pair, its private key encrypted with the account's
   * password (`doveadm mailbox cryptokey generate -U`: the user key only; INBOX's key pair
   * follows at the first save). Needs the running instance (doveadm asks its auth service).
   */
  async generateKeys(account: DovecotAccount): Promise<void> {
    await mustRun(DOVEADM, [
      "-c",
      this.configFile,
      "-o",
      `plugin/mail_crypt_private_password=${account.password}`,
      "mailbox",
      "cryptokey",
      "generate",
      "-u",
      account.user,
      "-U",
    ]);
  }

  /**
   * Writes each message as a file in `new/`, named as Dovecot's own delivery names them (with
   * `S=` the file size and `W=` the size with CRLF line ends), then hands the Maildir to nobody.
   */
  private async fill(messages: string[]): Promise<void> {
    const encoder = new TextEncoder();
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < messages.length; i++) {
      if (i % 100 === 0) checkInterrupted();
      const crlf = messages[i];
      const lf = encoder.encode(crlf.replaceAll("\r\n", "\n"));
      const virtualSize = encoder.encode(crlf).length;
      const name = `${now}.M${i + 1}P${Deno.pid}.bench.invalid,S=${lf.length},W=${virtualSize}`;
      await Deno.writeFile(join(this.maildir, "new", name), lf, { mode: 0o600 });
    }
    await mustRun("chown", ["-R", `${NOBODY}:${NOBODY}`, join(this.dir, "home")]);
  }

  /** Starts the master in the foreground; resolves once POP3 greets. */
  private async spawn(): Promise<void> {
    checkInterrupted();
    // -F: a daemonized master would keep our output pipes open, and its pid would be a guess.
    const master = new Deno.Command(DOVECOT, {
      args: ["-F", "-c", this.configFile],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.master = master;
    collect(master.stdout, this.output);
    collect(master.stderr, this.output);
    let exited = false;
    master.status.then(() => exited = true);
    await waitUntil(
      async () => {
        if (exited) throw new Error(`dovecot exited during start-up:\n${this.output.text}`);
        return await this.greets(this.port, "+OK") &&
          (this.imapPort === undefined || await this.greets(this.imapPort, "* OK"));
      },
      30_000,
      "Dovecot to answer",
      100,
    ).catch(async (e) => {
      throw new Error(`${e.message}\n${this.output.text}${await this.logTail()}`);
    });
  }

  /** Whether `port` accepts a connection and greets with `greeting`. */
  private async greets(port: number, greeting: string): Promise<boolean> {
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const buf = new Uint8Array(512);
      const n = await conn.read(buf);
      return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith(greeting);
    } catch {
      return false;
    } finally {
      try {
        conn?.close();
      } catch { /* closed */ }
    }
  }

  /** The last lines of Dovecot's log, for error messages. */
  async logTail(lines = 30): Promise<string> {
    try {
      return (await Deno.readTextFile(this.logFile)).split("\n").slice(-lines).join("\n");
    } catch {
      return "(no dovecot.log)";
    }
  }

  /**
   * `doveadm stop` (SIGTERM to the master, which stops its processes), then waits for the
   * master to exit; SIGTERM to it when doveadm could not, SIGKILL after 15 s.
   */
  async stop(): Promise<void> {
    const master = this.master;
    if (!master) return;
    this.master = undefined;
    const stopped = await runProgram(DOVEADM, ["-c", this.configFile, "stop"]);
    if (stopped.code !== 0) {
      try {
        master.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const timer = setTimeout(() => {
      try {
        master.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    try {
      await master.status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the temp folder (kept when FSMTP_BENCH_KEEP is set, for debugging). */
  async cleanup(): Promise<void> {
    this.unregister();
    if (Deno.env.get("FSMTP_BENCH_KEEP")) return console.error(`bench: kept ${this.dir}`);
    // Worker processes may still be closing index files right after the master exited: retry.
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

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
