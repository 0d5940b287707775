/**
 * A backend's most recent load report and when it came, plus counts of the reports seen; one
 * per Backend (the pool owns it, so it outlives strategy switches like the backend's other
 * state). The proxy and the simulator record into it; weighted_round_robin and the admin API
 * read it.
 */
import { LoadReport, parseLoadReport } from './report.js';

export class ReportedLoad {
  /** The last report read; meaningful once `at` is finite. */
  readonly latest = new LoadReport();
  /** When it came (ms on the pool clock); -Infinity before the first. */
  at = -Infinity;
  /** Reports read, BIN reports recognised but not read, values refused. */
  received = 0;
  ignored = 0;
  invalid = 0;
  /** Why the last refused value was refused (for the API), '' when none was. */
  lastError = '';

  /** Records a report read elsewhere (the simulator's servers; the parser's result). */
  record(report: LoadReport, now: number): void {
    if (report !== this.latest) this.latest.copyFrom(report);
    this.at = now;
    this.received++;
  }
}

/**
 * Reads header values into one reused record (the proxy's response path): at most one report is
 * being read at a time on the event loop, so one scratch record serves every backend.
 */
export class LoadReportReader {
  private readonly scratch = new LoadReport();

  /** The report in `value`, recorded on `load`; returns it, or null when refused or ignored. */
  read(load: ReportedLoad, value: string, now: number): LoadReport | null {
    const out = parseLoadReport(value, this.scratch);
    if (!out.ok) {
      load.invalid++;
      load.lastError = out.error;
      return null;
    }
    if (out.ignored) {
      load.ignored++;
      return null;
    }
    load.record(this.scratch, now);
    return load.latest;
  }
}
