/**
 * A throw-away OpenDKIM (Debian's `opendkim`) as Postfix's signing milter, the usual way Postfix
 * DKIM-signs: its own temp folder with a config and a 2048-bit key made by `opendkim-genkey`,
 * listening on a free 127.0.0.1 port, in the foreground, signing (mode `s`) mail of one domain
 * with rsa-sha256 and relaxed/relaxed, as fsmtp signs. Needs root (it drops to `opendkim`).
 */
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import {
  acceptsOn,
  checkInterrupted,
  collect,
  freePort,
  haveCommand,
  mustRun,
  registerCleanup,
  sleep,
  stopPeerProcess,
} from "./util.ts";

const OPENDKIM = "/usr/sbin/opendkim";
const SELECTOR = "bench";

/** A running OpenDKIM. */
export class OpenDkimPeer {
  #unregister = () => {};
  /** What OpenDKIM printed (errors; it logs to stderr in the foreground). */
  readonly output = { text: "" };

  private constructor(
    /** The temp folder (config, key). */
    readonly dir: string,
    /** The milter port on 127.0.0.1. */
    readonly port: number,
    /** The public half of the signing key (SPKI PEM), for checking what arrived. */
    readonly publicPem: string,
    private readonly child: Deno.ChildProcess,
  ) {}

  /** True when opendkim and opendkim-genkey are installed. */
  static async available(): Promise<boolean> {
    return await haveCommand("opendkim") && await haveCommand("opendkim-genkey");
  }

  /** Postfix's setting to use it: `smtpd_milters = inet:127.0.0.1:<port>`. */
  get milter(): string {
    return `inet:127.0.0.1:${this.port}`;
  }

  /** Makes a key, writes the config and starts OpenDKIM signing for `domain`. */
  static async start(domain: string): Promise<OpenDkimPeer> {
    if (Deno.uid() !== 0) throw new Error("the OpenDKIM peer needs root (it drops to opendkim)");
    checkInterrupted();
    // OpenDKIM refuses a config or key on a path others may write to, /tmp included.
    const dir = await Deno.makeTempDir({ dir: "/run", prefix: "fsmtp-bench-opendkim-" });
    let peer: OpenDkimPeer | undefined;
    try {
      await Deno.chmod(dir, 0o755);
      await mustRun("opendkim-genkey", ["-b", "2048", "-d", domain, "-s", SELECTOR, "-D", dir]);
      const keyFile = join(dir, `${SELECTOR}.private`);
      // OpenDKIM refuses a key that someone other than its user could read or replace.
      await mustRun("chown", ["opendkim:opendkim", keyFile]);
      await Deno.chmod(keyFile, 0o600);
      const publicPem = createPublicKey(await Deno.readTextFile(keyFile))
        .export({ type: "spki", format: "pem" }).toString();
      const port = freePort();
      const config = join(dir, "opendkim.conf");
      await Deno.writeTextFile(
        config,
        [
          `Domain ${domain}`,
          `Selector ${SELECTOR}`,
          `KeyFile ${keyFile}`,
          `Socket inet:${port}@127.0.0.1`,
          "Mode s",
          "Canonicalization relaxed/relaxed",
          "SignatureAlgorithm rsa-sha256",
          "OversignHeaders From",
          "UserID opendkim",
          "Syslog no",
          "Background no",
        ].join("\n") + "\n",
      );
      const child = new Deno.Command(OPENDKIM, {
        args: ["-f", "-x", config],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      peer = new OpenDkimPeer(dir, port, publicPem, child);
      peer.#unregister = registerCleanup(() => peer!.stop());
      collect(child.stdout, peer.output);
      collect(child.stderr, peer.output);
      let exited = false;
      child.status.then(() => exited = true);
      const deadline = Date.now() + 10_000;
      while (!(await acceptsOn(peer.port))) {
        if (exited || Date.now() > deadline) {
          throw new Error(`opendkim does not listen on port ${port}: ${peer.output.text}`);
        }
        await sleep(50);
      }
      return peer;
    } catch (e) {
      if (peer) await peer.stop();
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** OpenDKIM's process, for its CPU time. */
  get pid(): number {
    return this.child.pid;
  }

  /** Stops OpenDKIM and removes its folder (kept when FSMTP_BENCH_KEEP is set). */
  async stop(): Promise<void> {
    this.#unregister();
    await stopPeerProcess(this.child, this.dir);
  }
}
