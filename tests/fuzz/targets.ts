/** Every fuzz target, by group; the CI test and bench/fuzz.ts both run this list. */
import { configTargets } from "./config_targets.ts";
import { dkimTargets } from "./dkim_targets.ts";
import { dnsTargets } from "./dns_targets.ts";
import { dotTargets } from "./dot_targets.ts";
import type { FuzzTarget } from "./harness.ts";
import { imapTargets } from "./imap_targets.ts";
import { mimeTargets } from "./mime_targets.ts";
import { pop3Targets } from "./pop3_targets.ts";
import { smtpTargets } from "./smtp_targets.ts";

/** All targets. */
export const TARGETS: FuzzTarget[] = [
  ...smtpTargets,
  ...pop3Targets,
  ...imapTargets,
  ...dotTargets,
  ...dkimTargets,
  ...configTargets,
  ...mimeTargets,
  ...dnsTargets,
];
