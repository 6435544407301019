import type { CrashPoint, Faults } from '../../functions/core/faults';

/** The error a simulated crash throws. */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

/**
 * Crashes the run at one named point. After the crash the process is "dead": every later
 * checkpoint throws too, so nothing past it (notably releasing the lease) happens.
 */
export class CrashAt implements Faults {
  private crashed = false;
  private armed: CrashPoint | undefined;

  arm(point: CrashPoint): void {
    this.armed = point;
    this.crashed = false;
  }

  /** The process dies right here (e.g. in the middle of a tool call): every later checkpoint throws. */
  die(): SimulatedCrash {
    this.crashed = true;
    return new SimulatedCrash('the process died');
  }

  /** A new process: no fault armed. */
  recover(): void {
    this.armed = undefined;
    this.crashed = false;
  }

  checkpoint(point: CrashPoint): void {
    if (this.crashed) throw new SimulatedCrash(`dead process (at ${point})`);
    if (point === this.armed) {
      this.crashed = true;
      throw new SimulatedCrash(`crash at ${point}`);
    }
  }
}
