/**
 * The MIME structure of a stored message (RFC 2045, RFC 2046, RFC 2231), with every part's
 * byte offsets into the original message, for IMAP BODYSTRUCTURE and section fetches. Pure.
 */

/** A Content-Disposition (RFC 2183): lower-cased type and its parameters. */
export interface MimeDisposition {
  /** Lower-cased disposition type, e.g. "attachment". */
  type: string;
  /** Parameters: lower-cased name, RFC 2231-decoded value. */
  params: [string, string][];
}

/** One MIME part; all offsets are byte indexes into the outermost message. */
export interface MimePart {
  /** First byte of the part's header. */
  headerStart: number;
  /** Just after the blank line ending the header (= body start), or the part's end if none. */
  headerEnd: number;
  /** End of the part's body (exclusive). */
  bodyEnd: number;
  /** Lower-cased media type, e.g. "text". */
  type: string;
  /** Lower-cased media subtype, e.g. "plain". */
  subtype: string;
  /** Content-Type parameters: lower-cased name, RFC 2231-decoded value. */
  params: [string, string][];
  /** Content-ID, as written. */
  id?: string;
  /** Content-Description, unfolded. */
  description?: string;
  /** Lower-cased Content-Transfer-Encoding; "7bit" when absent. */
  encoding: string;
  /** Content-Disposition. */
  disposition?: MimeDisposition;
  /** Content-Language tags. */
  language?: string[];
  /** Content-Location. */
  location?: string;
  /** Content-MD5. */
  md5?: string;
  /** Number of lines of the body (meaningful for text/* and message/rfc822). */
  lines: number;
  /** Sub-parts of a multipart. */
  children: MimePart[];
  /** The encapsulated message of a message/rfc822 (or message/global) part. */
  message?: MimePart;
  /**
   * Raw header bytes of an encapsulated message's root part: set by buildSummary so ENVELOPE
   * of a nested message renders without the message. Absent straight out of parseStructure.
   */
  header?: Uint8Array;
}

/** Parses the MIME structure of a whole message. */
export function parseStructure(message: Uint8Array): MimePart {
  void message;
  throw new Error("not implemented");
}
