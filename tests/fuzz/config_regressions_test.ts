/**
 * Config texts the long fuzz run (bench/fuzz.ts) found to break the loader, kept as plain tests.
 */
import { assertConfigError, load } from "./config_targets.ts";

Deno.test("config texts found by fuzzing", async (t) => {
  // smol-toml 1.4.2 looped forever on an unclosed array whose last value is followed by a
  // comment: fsmtp hung at start instead of naming the file (fixed by smol-toml 1.9.1).
  for (const text of ["domains = [x#c", "a=[1#", "a=[x #"]) {
    await t.step(`${JSON.stringify(text)} is refused with a ConfigError naming the file`, () => {
      const { path, result } = load(text);
      assertConfigError(result, path);
    });
  }
});
