/**
 * An async job that never runs twice at once: asked while it runs, it runs once more right
 * after, so the last request always sees a fresh run and any number of requests in between
 * cost one. (etcd discovery re-reads its keys and rewrites its instance key this way.)
 */
export class SerialRerun {
  private running = false;
  private again = false;

  constructor(
    /** One run; false stops the reruns asked meanwhile (the job scheduled its own retry). */
    private readonly job: () => Promise<boolean | void>,
    /** Runs are asked for and repeated only while this holds. */
    private readonly active: () => boolean,
  ) {}

  /** Runs the job now, or once more after the run in progress. */
  request(): void {
    if (!this.active()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        if ((await this.job()) === false) break;
      } while (this.again && this.active());
    } finally {
      this.running = false;
    }
  }
}
