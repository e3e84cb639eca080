/**
 * The IMAP command table: every command the parser knows, with the states it is allowed in
 * (RFC 9051 §6) and its handler.
 */
import type { ImapCommandName } from "../parse/command.ts";
import type { ImapCommandSpec } from "./spec.ts";
import { CONNECTION_COMMANDS } from "./connection.ts";
import { SELECT_COMMANDS } from "./select.ts";
import { MAILBOX_COMMANDS } from "./mailboxes.ts";
import { LIST_COMMANDS } from "./list.ts";
import { APPEND_COMMANDS } from "./append.ts";
import { MESSAGE_COMMANDS } from "./messages.ts";
import { SORT_COMMANDS } from "./sort.ts";

/** Every command, by name. */
export const IMAP_COMMANDS: { [N in ImapCommandName]: ImapCommandSpec<N> } = {
  ...CONNECTION_COMMANDS,
  ...SELECT_COMMANDS,
  ...MAILBOX_COMMANDS,
  ...LIST_COMMANDS,
  ...APPEND_COMMANDS,
  ...MESSAGE_COMMANDS,
  ...SORT_COMMANDS,
};
