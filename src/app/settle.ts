/**
 * Waiting for a watched config file to be completely written before a reload reads it.
 *
 * A file rewritten in place passes through states a reader can see: empty after the
 * truncation, then a growing prefix. An empty file fails validation, but a prefix of YAML
 * often parses and validates with fewer servers (a list cut between two items), and applying
 * it would remove backends. So once change events have been quiet for `intervalMs` the file
 * is read, then read again every `intervalMs` until two reads in a row give the same text;
 * only that text is reloaded. Two failed reads in a row with the same error report it.
 *
 * The text is compared rather than mtime and size: mtime is coarse on some filesystems, and
 * a rewrite of the same length keeps the size. The second read does not depend on change
 * events, which can be coalesced or lost (network filesystems, container bind mounts). What
 * it cannot catch is a writer that stalls mid-file for longer than both intervals; writing a
 * temporary file and renaming it over the config is the safe way to update it, and the
 * reload's own guard refuses a file that keeps none of the running servers.
 *
 * SIGHUP does not go through this: the signal is the operator saying the file is written.
 */
export interface SettleHandlers {
  /** The same text was read twice in a row. */
  settled(text: string): void;
  /** Reading failed twice in a row with the same message. */
  failed(err: unknown): void;
}

export class SettledReads {
  private timer: NodeJS.Timeout | undefined = undefined;
  /** What the previous read of this round saw ("ok:" + text or "error:" + message); undefined before the first. */
  private previous: string | undefined = undefined;

  constructor(
    private readonly read: () => string,
    private readonly intervalMs: number,
    private readonly handlers: SettleHandlers,
  ) {}

  /** A change event: (re)start the round, first read after `intervalMs` of quiet. */
  changed(): void {
    clearTimeout(this.timer);
    this.previous = undefined;
    this.timer = setTimeout(this.check, this.intervalMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly check = (): void => {
    this.timer = undefined;
    let seen: string;
    let text = '';
    let ok = true;
    let error: unknown;
    try {
      text = this.read();
      seen = `ok:${text}`;
    } catch (err) {
      ok = false;
      error = err;
      seen = `error:${err instanceof Error ? err.message : String(err)}`;
    }
    if (seen !== this.previous) {
      this.previous = seen;
      this.timer = setTimeout(this.check, this.intervalMs);
      return;
    }
    this.previous = undefined;
    if (ok) this.handlers.settled(text);
    else this.handlers.failed(error);
  };
}
