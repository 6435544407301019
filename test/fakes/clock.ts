import type { Timers } from '../../functions/core/ports';

/** A clock that moves only when told to; moving it aborts the signals that fell due, and sleeping moves it. */
export class ManualClock implements Timers {
  private timers: { at: number; controller: AbortController }[] = [];

  constructor(private current = Date.parse('2026-11-25T18:00:00.000Z')) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
    const due = this.timers.filter((timer) => timer.at <= this.current);
    this.timers = this.timers.filter((timer) => timer.at > this.current);
    for (const timer of due) timer.controller.abort(new DOMException('The operation timed out.', 'TimeoutError'));
  }

  signalAfter(ms: number): AbortSignal {
    const controller = new AbortController();
    this.timers.push({ at: this.current + ms, controller });
    return controller.signal;
  }

  /** Sleeping takes no real time: the clock moves by `ms` at once. */
  async sleep(ms: number): Promise<void> {
    this.advance(ms);
  }

  /** Signals not yet fired (for assertions). */
  get pendingTimers(): number {
    return this.timers.length;
  }
}
