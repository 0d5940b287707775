/**
 * The etcd v3 client as Ballast uses it (the discovery source and `ballast fleet`). etcd3's
 * defaults suit a long-lived service that can wait; ours must notice a lost store within
 * seconds and be back within a second of the store's return, so three defaults are replaced.
 */
import { Etcd3, isRecoverableError } from 'etcd3';
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';

/** A read, put or lease call waiting longer fails, so a hung (not down) etcd cannot stall a refresh. */
export const CALL_DEADLINE_MS = 3_000;

export function etcdClient(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({
    hosts: [...endpoints],
    // Streams (watch, lease keep-alive) live on; a deadline would end them.
    defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    faultHandling: {
      // The default per-host circuit breaker refuses every call for 5 s after three failures:
      // measured, reads still failed 1.5 s after etcd was back. Our callers retry on their own
      // schedule, so the breaker only delays recovery.
      host: () => noop,
      // A failed call moves on to the next endpoint once per other endpoint; with one endpoint
      // it fails at once and the caller's schedule retries.
      global: retry(handleWhen(isRecoverableError), { maxAttempts: endpoints.length - 1 }),
      // The default watch reconnect backoff grows to 30 s (measured: a watch stayed down 20 s
      // after etcd was back); a reconnect attempt is one cheap stream, so try at least each second.
      // etcd3 types this as a backoff instance (not a factory) and calls next() on it for the
      // first delay, so it gets the factory's zero-length first step.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1_000 }).next(),
    },
    // A watch stream on a silently dead connection (partition, frozen etcd) is only noticed by
    // pings; etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
  });
}

/** One line from an etcd3 or gRPC error (their messages can carry a "Resolution note" tail). */
export function etcdErrorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*Resolution note:.*$/s, '').trim();
}
