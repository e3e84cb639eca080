/**
 * Opening the socket of an outbound session: TCP, or TLS from the first byte (RFC 8314), and
 * the TLS settings used for both that and STARTTLS.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { SmtpClientError, type TlsOptions } from "./options.ts";

/** Opens TCP (and TLS when `tls` is given) within `timeoutMs`. */
export async function openSocket(
  host: string,
  port: number,
  tls: TlsOptions | undefined,
  timeoutMs: number,
): Promise<Socket> {
  const socket: Socket = tls
    ? tlsConnect({ host, port, ...tlsConnectOptions(tls) })
    : netConnect({ host, port, noDelay: true });
  const ready = tls ? "secureConnect" : "connect";
  return await new Promise<Socket>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off(ready, onReady);
      socket.off("error", onError);
      if (err) {
        socket.destroy();
        reject(new SmtpClientError(err.message, "connect"));
      } else resolve(socket);
    };
    const onReady = () => done();
    const onError = (err: Error) => done(err);
    const timer = setTimeout(
      () => done(new Error(`connect timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once(ready, onReady);
    socket.once("error", onError);
  });
}

/** node:tls options for `opts`: SNI for names only, verification on unless turned off. */
export function tlsConnectOptions(opts: TlsOptions): ConnectionOptions {
  const name = opts.servername;
  return {
    // RFC 6066 §3: SNI carries host names only, never address literals.
    servername: name && !isIP(name) ? name : undefined,
    rejectUnauthorized: opts.rejectUnauthorized ?? true,
    ca: opts.ca,
    // RFC 8996: nothing older than TLS 1.2.
    minVersion: "TLSv1.2" as const,
  };
}
