/**
 * The messages the protocol front ends hand to delivery: what SMTP (and later IMAP APPEND or an
 * HTTP API) accepted, and what a recipient lookup answers. Kept apart from any one protocol so
 * that `src/mail/` and every server can share them.
 */
import type { EnvelopeDsn, RecipientDsn } from "../smtp/dsn_params.ts";

/** A message ready for delivery. */
export interface InboundMessage {
  id: string;
  /** The reverse-path; "" for the null sender. */
  from: string;
  /** Lower-cased local recipient addresses, without duplicates. */
  recipients: string[];
  /** The message with the trace headers this server added. */
  content: Uint8Array;
  /** The mailbox to file it in; INBOX unless the checks said Junk. */
  mailbox?: string;
}

/** What a recipient lookup found. */
export type RecipientCheck = "ok" | "no-such-user" | "not-local" | "over-quota";

/** A message from a logged-in user (submission, RFC 6409). */
export interface SubmittedMessage extends InboundMessage {
  /** The address of the user who logged in. */
  user: string;
  /** The client sent SMTPUTF8 (RFC 6531): the message needs it onward too. */
  smtputf8: boolean;
  dsn: EnvelopeDsn;
  recipientDsn: Map<string, RecipientDsn>;
  /** The queue id for its remote recipients; a random one when absent (the HTTP API sets it). */
  queueId?: string;
}
