/**
 * The outbound client's options, timeouts (RFC 5321 §4.5.3.2), TLS settings and error type,
 * shared by the connection, the transaction and the delivery of a batch.
 */
import type { SmtpReply } from "./reply_reader.ts";

/** Who wrote a transcript line: the client, the server, or the TLS layer. */
export type TranscriptDirection = "C" | "S" | "TLS";

/** Receives the transcript, one line at a time (without CRLF). */
export type TranscriptListener = (dir: TranscriptDirection, text: string) => void;

/** Milliseconds to wait at each step. */
export interface ClientTimeouts {
  /** TCP connect (and the implicit TLS handshake); RFC 5321 leaves it open. */
  connect: number;
  /** The 220 greeting: 5 minutes (RFC 5321 §4.5.3.2.1). */
  greeting: number;
  /** The reply to MAIL: 5 minutes (§4.5.3.2.2). */
  mail: number;
  /** The reply to each RCPT: 5 minutes (§4.5.3.2.3). */
  rcpt: number;
  /** The 354 to DATA: 2 minutes (§4.5.3.2.4). */
  dataInit: number;
  /** Each write of content: 3 minutes (§4.5.3.2.5). */
  dataBlock: number;
  /** The reply to the final ".": 10 minutes (§4.5.3.2.6). */
  dataEnd: number;
  /** Other commands (EHLO, STARTTLS and its handshake, AUTH, RSET, QUIT). */
  command: number;
}

/** The RFC 5321 §4.5.3.2 minimums, and 30 s to connect. */
export const DEFAULT_TIMEOUTS: Readonly<ClientTimeouts> = Object.freeze({
  connect: 30_000,
  greeting: 300_000,
  mail: 300_000,
  rcpt: 300_000,
  dataInit: 120_000,
  dataBlock: 180_000,
  dataEnd: 600_000,
  command: 300_000,
});

/** How to set up TLS. */
export interface TlsOptions {
  /** The name to send as SNI and to check the certificate against; IP literals send no SNI. */
  servername?: string;
  /** Verify the certificate chain and name (opportunistic TLS, RFC 7435, passes false). */
  rejectUnauthorized?: boolean;
  /** Extra trusted certificates (PEM), e.g. a relay's own. */
  ca?: string | string[];
}

/** Options for `SmtpClientConnection.connect`. */
export interface ConnectOptions {
  timeouts?: Partial<ClientTimeouts>;
  onLine?: TranscriptListener;
  /** Start TLS at once, before the greeting: implicit TLS (RFC 8314 §3.3, port 465). */
  implicitTls?: TlsOptions;
}

/** The negotiated TLS parameters. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
  /** The certificate was verified (always false for opportunistic TLS). */
  authorized: boolean;
}

/** Why a connection step failed. */
export type SmtpClientErrorKind = "connect" | "timeout" | "closed" | "protocol" | "tls" | "reply";

/** A failed step: no connection, a timeout, a broken stream, or an unwanted reply. */
export class SmtpClientError extends Error {
  constructor(message: string, readonly kind: SmtpClientErrorKind, readonly reply?: SmtpReply) {
    super(message);
    this.name = "SmtpClientError";
  }
}
