import type { Clock } from '../ports';

/** A call (model or tool) must end this long before the deadline, so the run can still store its state. */
export const CALL_MARGIN_MS = 1_000;
/** The deadline stays this far inside the Lambda's own remaining time, for the last writes and the answer. */
export const FUNCTION_MARGIN_MS = 2_000;

/** How much time a request has: its budget, and what the function that runs it has left. */
export interface RequestTime {
  readonly budgetMs: number;
  /** The Lambda's `context.getRemainingTimeInMillis()` at the request's start, when known. */
  readonly remainingMs?: number;
}

/**
 * One request's deadline: every model and tool call is bounded by it (not just checked between
 * steps), so a run stops as `in_progress` in time however slow Claude or Asana are.
 */
export class Deadline {
  private constructor(
    private readonly clock: Clock,
    /** Epoch ms. */
    readonly at: number,
  ) {}

  /** The deadline of a request starting now: the budget, or sooner when the function has less time left. */
  static of(clock: Clock, time: RequestTime): Deadline {
    const room = time.remainingMs === undefined ? time.budgetMs : Math.min(time.budgetMs, time.remainingMs - FUNCTION_MARGIN_MS);
    return new Deadline(clock, clock.now() + room);
  }

  /** How long a call starting now may take: `min(cap, time left − 1 s)`. Zero or less: no call may start. */
  callTimeout(capMs = Number.POSITIVE_INFINITY): number {
    return Math.min(capMs, this.at - this.clock.now() - CALL_MARGIN_MS);
  }
}
