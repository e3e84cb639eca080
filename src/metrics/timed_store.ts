/**
 * A store whose asynchronous methods are timed into `fsmtp_store_operation_duration_seconds`,
 * without the store knowing: a Proxy that wraps each method call, so every backend (SQLite,
 * Cassandra, behind the Redis caches or not) is measured the same way.
 */
import { metrics } from "./metrics.ts";

/** `store` with every method call that returns a promise timed by method name. */
export function timedStore<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = value.apply(target, args);
        if (result instanceof Promise) {
          const done = () =>
            metrics.storeLatency.observe(
              { operation: property },
              (performance.now() - started) / 1000,
            );
          result.then(done, done);
        }
        return result;
      };
    },
  });
}
