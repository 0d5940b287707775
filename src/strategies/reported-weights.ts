/**
 * Backend weights from the backends' own load reports (ORCA), as gRPC's weighted_round_robin
 * computes them (gRFC A58):
 *
 *   weight = qps / (utilization + errorUtilizationPenalty x eps / qps)
 *
 * utilization is application_utilization when sent, else cpu_utilization; qps is rps_fractional.
 * A report without both a positive utilization and a positive qps changes nothing. A weight is
 * used only once the backend has reported continuously for `blackoutMs` (a backend that just
 * came up reports from a few requests, and a cold one looks idle: trusting its first report would
 * flood it), and is dropped after `expirationMs` without a report (stale weights are worse than
 * none); after an expiry, or when the backend comes back after being down, the blackout starts
 * again. Reading gives 0 for "no usable weight"; the caller fills those in (A58: the mean of the
 * usable ones, and plain round robin when fewer than two are usable).
 *
 * State per backend id in typed arrays (grown on demand, bounded by the pool's ids); O(1) per
 * report and per read.
 */
import type { Backend } from '../pool/backend.js';
import type { LoadReport } from '../orca/report.js';

export interface ReportedWeightOptions {
  blackoutMs: number;
  expirationMs: number;
  errorUtilizationPenalty: number;
}

export class ReportedWeights {
  private weight: Float64Array<ArrayBuffer> = new Float64Array(0);
  private lastUpdated: Float64Array<ArrayBuffer> = new Float64Array(0);
  private nonEmptySince: Float64Array<ArrayBuffer> = new Float64Array(0);
  private seenReadySince: Float64Array<ArrayBuffer> = new Float64Array(0);

  constructor(private readonly o: ReportedWeightOptions) {}

  private ensure(id: number): void {
    if (id < this.weight.length) return;
    const size = Math.max(8, (id + 1) * 2);
    const grow = (a: Float64Array<ArrayBuffer>, fill: number): Float64Array<ArrayBuffer> => {
      const next = new Float64Array(size).fill(fill);
      next.set(a);
      return next;
    };
    this.weight = grow(this.weight, 0);
    this.lastUpdated = grow(this.lastUpdated, -Infinity);
    this.nonEmptySince = grow(this.nonEmptySince, Infinity);
    this.seenReadySince = grow(this.seenReadySince, NaN);
  }

  /** A backend that (re)became ready starts a new blackout (A58: on becoming READY). */
  private followReadiness(b: Backend): void {
    const id = b.id;
    if (Object.is(this.seenReadySince[id], b.readySince)) return;
    if (!Number.isNaN(this.seenReadySince[id]!)) this.nonEmptySince[id] = Infinity;
    this.seenReadySince[id] = b.readySince;
  }

  /** The weight a report gives, or 0 when it gives none. */
  weightOf(report: LoadReport): number {
    const qps = report.rpsFractional;
    let utilization = report.utilization;
    if (!(utilization > 0 && qps > 0)) return 0;
    if (report.eps > 0) utilization += (report.eps / qps) * this.o.errorUtilizationPenalty;
    return qps / utilization;
  }

  onReport(b: Backend, report: LoadReport, now: number): void {
    this.ensure(b.id);
    this.followReadiness(b);
    const w = this.weightOf(report);
    if (w === 0) return;
    const id = b.id;
    // An expired weight restarts the blackout, even when the report that ends the gap is the
    // first one read after it (A58 resets on the read; a report may come before any read).
    if (now - this.lastUpdated[id]! >= this.o.expirationMs) this.nonEmptySince[id] = Infinity;
    if (this.nonEmptySince[id] === Infinity) this.nonEmptySince[id] = now;
    this.lastUpdated[id] = now;
    this.weight[id] = w;
  }

  /** The usable weight of `b` at `now`, or 0 (none yet, in its blackout, or expired). */
  weightAt(b: Backend, now: number): number {
    this.ensure(b.id);
    this.followReadiness(b);
    const id = b.id;
    if (now - this.lastUpdated[id]! >= this.o.expirationMs) {
      this.nonEmptySince[id] = Infinity;
      return 0;
    }
    if (this.o.blackoutMs > 0 && now - this.nonEmptySince[id]! < this.o.blackoutMs) return 0;
    return this.weight[id]!;
  }
}
