/**
 * APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315 §3), APPENDLIMIT (RFC 7889) and QUOTA
 * (RFC 9208). The message is sealed for its owner under their mailbox key (no RSA at any
 * later read), with its summary, and the tagged OK follows the durable commit.
 */
import { sealForOwner } from "../../crypto/message_seal.ts";
import { buildSummary, encodeSummary } from "../../mime/summary.ts";
import { encodeBinaryParts } from "../../mime/encode_binary_parts.ts";
import { StoreError } from "../../store/mail_store.ts";
import { storeName } from "../mailbox_names.ts";
import { AUTH, bad, no, ok, type PartialTable } from "./spec.ts";

/** APPEND. */
export const APPEND_COMMANDS: PartialTable<"APPEND"> = {
  APPEND: {
    states: AUTH,
    async handle(s, cmd) {
      const mail = s.mail!;
      const name = storeName(cmd.mailbox);
      const box = await s.ports.store.getMailbox(mail.address, name);
      if (!box) return no("No such mailbox", "TRYCREATE");
      // RFC 3516 §4.4: binary content may be stored in another form; NULs become base64.
      const message = encodeBinaryParts(cmd.message);
      if (message.length === 0) return no("An empty message cannot be stored");
      if (message.length > s.ports.limits.maxMessageSize) {
        return no("Message too large", "TOOBIG");
      }
      if (cmd.flags?.includes("\\Recent")) return bad("\\Recent cannot be stored");
      const quota = s.ports.limits.quotaOctets;
      if (quota > 0 && (await s.ports.store.usage(mail.address)) + message.length > quota) {
        return no("Quota exceeded", "OVERQUOTA");
      }
      const sealed = await sealForOwner(message, mail.keys, encodeSummary(buildSummary(message)));
      let refs;
      try {
        refs = await s.ports.store.deliver({
          id: crypto.randomUUID(),
          body: sealed.body,
          summary: sealed.summary,
          size: message.length,
          internalDate: cmd.date ?? Date.now(),
          items: [{
            address: mail.address,
            mailbox: name,
            wrappedKey: sealed.wrappedKey,
            keyWrap: "sym",
            flags: cmd.flags,
            createMailbox: false,
          }],
        });
      } catch (err) {
        if (err instanceof StoreError && err.code === "not-found") {
          return no("No such mailbox", "TRYCREATE");
        }
        throw err;
      }
      return ok("APPEND completed", `APPENDUID ${box.uidValidity} ${refs[0].uid}`);
    },
  },
};
