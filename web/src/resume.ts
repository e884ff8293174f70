// Resume bookkeeping for the /ws event stream (docs/api.md, architecture.md "Sequence numbers").
// The server numbers a user's events 1, 2, 3 … within an epoch. A client remembers the last
// (epoch, seq) it applied, resumes with them, and drops anything it has already applied, so a
// reconnect neither loses nor duplicates text.

/** Events that are safe to apply more than once and are never dropped as duplicates. */
const IDEMPOTENT = new Set(['resync', 'run.snapshot', 'gateway.status', 'hello', 'server.restart']);

export type Verdict = 'apply' | 'duplicate' | 'gap';

export class Resume {
  epoch: string | null = null;
  seq = 0;
  /** true once subscribe answered on the current socket */
  subscribed = false;

  /** Params for `subscribe`: what we last saw, or nothing for a fresh start. */
  subscribeParams(): { epoch?: string; since?: number } {
    return this.epoch ? { epoch: this.epoch, since: this.seq } : {};
  }

  /** Call when a socket opens (before hello/subscribe). */
  reset(): void { this.subscribed = false; }

  /**
   * Record the answer to `subscribe`. Returns true when the client must reload everything
   * (a resync, a new epoch, or a fresh start after having state).
   */
  onSubscribed(res: { epoch: string; seq: number; resync?: boolean }): boolean {
    this.subscribed = true;
    const sameEpoch = this.epoch !== null && res.epoch === this.epoch;
    if (sameEpoch && !res.resync) {
      // Replayed events (seq in (this.seq, res.seq]) follow and advance this.seq themselves.
      return false;
    }
    const hadState = this.epoch !== null;
    this.epoch = res.epoch;
    this.seq = res.seq;
    return hadState || !!res.resync;
  }

  /** Decide what to do with an event frame and advance the cursor when it is applied. */
  accept(event: string, seq: number | undefined): Verdict {
    if (seq === undefined || seq === null || seq <= 0) return 'apply';
    if (IDEMPOTENT.has(event)) {
      if (seq > this.seq) this.seq = seq;
      return 'apply';
    }
    if (seq <= this.seq) return 'duplicate';
    const gap = this.subscribed && this.seq > 0 && seq > this.seq + 1;
    this.seq = seq;
    return gap ? 'gap' : 'apply';
  }
}
