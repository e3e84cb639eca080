/**
 * Delivery Status Notification parameters of MAIL and RCPT (RFC 3461 §4): parsed and checked
 * here, carried with the message so the queue can honour them.
 */
import { Replies, SmtpError } from "./reply.ts";
import type { Params } from "./parse_command.ts";

/** The envelope's DSN requests. */
export interface EnvelopeDsn {
  /** RET: return the full message or only its headers in a failure DSN (§4.3). */
  ret?: "FULL" | "HDRS";
  /** ENVID, decoded from xtext (§4.4). */
  envid?: string;
}

/** One recipient's DSN requests. */
export interface RecipientDsn {
  /** NOTIFY (§4.1): undefined means the default, failures and delays. */
  notify?: ("NEVER" | "SUCCESS" | "FAILURE" | "DELAY")[];
  /** ORCPT (§4.2) as `type;address`, decoded from xtext. */
  orcpt?: string;
}

/** Decodes xtext (§4): `+XX` hex escapes; throws the 501 reply when malformed. */
export function decodeXtext(value: string, what: string): string {
  if (!/^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/.test(value)) {
    throw new SmtpError(Replies.syntax(`Malformed ${what} (xtext, RFC 3461 §4)`));
  }
  return value.replace(/\+([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** RET and ENVID of MAIL. */
export function envelopeDsn(params: Params): EnvelopeDsn {
  const dsn: EnvelopeDsn = {};
  const ret = params.get("RET")?.toUpperCase();
  if (params.has("RET")) {
    if (ret !== "FULL" && ret !== "HDRS") {
      throw new SmtpError(Replies.syntax("RET must be FULL or HDRS"));
    }
    dsn.ret = ret;
  }
  if (params.has("ENVID")) {
    const envid = decodeXtext(params.get("ENVID") ?? "", "ENVID");
    if (envid === "" || envid.length > 100) {
      throw new SmtpError(Replies.syntax("ENVID must hold 1 to 100 characters"));
    }
    dsn.envid = envid;
  }
  return dsn;
}

/** NOTIFY and ORCPT of RCPT. */
export function recipientDsn(params: Params): RecipientDsn {
  const dsn: RecipientDsn = {};
  if (params.has("NOTIFY")) {
    const items = (params.get("NOTIFY") ?? "").toUpperCase().split(",");
    const known = ["NEVER", "SUCCESS", "FAILURE", "DELAY"];
    // §4.1: NEVER stands alone; the others may be combined.
    if (
      items.some((i) => !known.includes(i)) || (items.includes("NEVER") && items.length > 1) ||
      new Set(items).size !== items.length
    ) {
      throw new SmtpError(
        Replies.syntax("NOTIFY must be NEVER or a list of SUCCESS,FAILURE,DELAY"),
      );
    }
    dsn.notify = items as RecipientDsn["notify"];
  }
  if (params.has("ORCPT")) {
    const orcpt = decodeXtext(params.get("ORCPT") ?? "", "ORCPT");
    if (!/^[A-Za-z0-9-]+;.+$/.test(orcpt)) {
      throw new SmtpError(Replies.syntax("ORCPT must be addr-type;address"));
    }
    dsn.orcpt = orcpt;
  }
  return dsn;
}
