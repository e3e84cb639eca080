/**
 * The outbound queue's types: what goes in (an accepted message with its DSN parameters, RFC
 * 3461), what the queue hands the SMTP client, and what comes back from it.
 */

/** When a recipient asked for a delivery status notification (RFC 3461 §4.1, NOTIFY). */
export type NotifyCondition = "SUCCESS" | "FAILURE" | "DELAY";

/**
 * The NOTIFY parameter: "NEVER", or the conditions asked for. Absent means the default,
 * which is FAILURE,DELAY here (RFC 3461 §4.1 lets the MTA choose FAILURE or FAILURE,DELAY).
 */
export type Notify = "NEVER" | readonly NotifyCondition[];

/** The RET parameter (RFC 3461 §4.3): return the whole message or only its headers. */
export type Ret = "FULL" | "HDRS";

/** The DSN parameters given on one RCPT TO (RFC 3461 §4.1, §4.2). */
export interface RecipientDsn {
  notify?: Notify;
  /**
   * ORCPT as `addr-type;address` with the xtext already decoded (RFC 3461 §4.2), e.g.
   * `rfc822;alice@example.org`; copied into Original-Recipient (RFC 3464 §2.3.1).
   */
  orcpt?: string;
}

/** One recipient of a message handed to the queue. */
export interface EnqueueRecipient extends RecipientDsn {
  /** The forward-path, `local@domain`. */
  address: string;
}

/** A message accepted for remote delivery. */
export interface EnqueueItem {
  /** The queue id; a random one is made when absent. */
  id?: string;
  /** The reverse-path; "" for the null sender (a bounce: it never gets a DSN). */
  from: string;
  recipients: EnqueueRecipient[];
  /** The message as it will be sent (already DKIM-signed by the caller). */
  content: Uint8Array;
  /** The content has 8-bit octets: BODY=8BITMIME is needed (RFC 6152). */
  needs8bit: boolean;
  /** Addresses or headers need SMTPUTF8 (RFC 6531). */
  needsSmtputf8: boolean;
  /** ENVID (RFC 3461 §4.4), xtext decoded. */
  envid?: string;
  ret?: Ret;
  /** Milliseconds since the epoch at which the message was accepted. */
  arrivedAt: number;
}

/** Where one recipient stands. */
export type RecipientStatus = "pending" | "delivered" | "failed";

/** One recipient as the queue keeps it. */
export interface QueuedRecipient extends RecipientDsn {
  address: string;
  /** The lower-cased domain of the address: deliveries are grouped by it. */
  domain: string;
  status: RecipientStatus;
  /** Delivery attempts made so far. */
  attempts: number;
  lastAttemptAt?: number;
  /** The last reply, normally the remote server's (`451 4.7.1 try later`). */
  lastReply?: string;
  /** The host that gave the last reply. */
  remoteHost?: string;
  /** A DSN about this recipient's final status is owed and not sent yet. */
  reportOwed: boolean;
}

/** A queued message without its content. */
export interface QueuedMessage {
  id: string;
  from: string;
  arrivedAt: number;
  nextAttemptAt: number;
  /** Octets of the content. */
  size: number;
  needs8bit: boolean;
  needsSmtputf8: boolean;
  envid?: string;
  ret?: Ret;
  /** A delay warning has been sent. */
  warned: boolean;
  /**
   * From `due()`: the recipients still pending or owed a report, sorted by domain. From
   * `list()`: every recipient.
   */
  recipients: QueuedRecipient[];
}

/** The outcome of one attempt for one recipient, as the runner records it. */
export interface RecipientResult {
  address: string;
  /** "deferred" leaves the recipient pending. */
  status: "delivered" | "deferred" | "failed";
  reply: string;
  remoteHost?: string;
  /** Milliseconds since the epoch of the attempt. */
  at: number;
  /** A final status that owes the sender a DSN (kept until `markReported`). */
  report: boolean;
}

/** A message as handed to the SMTP client for one domain. */
export interface OutboundMessage {
  id: string;
  /** The reverse-path for MAIL FROM; "" for the null sender. */
  from: string;
  /** The recipients at this domain. */
  recipients: string[];
  content: Uint8Array;
  needs8bit: boolean;
  needsSmtputf8: boolean;
  /**
   * The DSN parameters, for a client that passes them on to a server offering DSN
   * (RFC 3461 §5.2); optional so a client may ignore them.
   */
  dsn?: {
    envid?: string;
    ret?: Ret;
    recipients: Record<string, RecipientDsn>;
  };
}

/** What became of one message at one domain. */
export interface DeliveryOutcome {
  id: string;
  recipients: {
    address: string;
    status: "delivered" | "deferred" | "failed";
    /** The remote's reply (or the client's own words when there was none). */
    reply: string;
    remoteHost?: string;
  }[];
}

/** A DSN ready to send: the envelope sender is the null path `<>` (RFC 3461 §6.1). */
export interface OutboundDsn {
  /** The original message's envelope sender. */
  to: string;
  content: Uint8Array;
  /** The returned message has 8-bit octets. */
  needs8bit: boolean;
  /** The recipient address needs SMTPUTF8. */
  needsSmtputf8: boolean;
}
