import type { RunObserver } from '../../functions/core/ports';

type Call<K extends keyof RunObserver> = Parameters<RunObserver[K]>[0];

/** One report of a run, in the order it was made. */
export type Observed =
  | ({ readonly kind: 'model' } & Call<'modelCalled'>)
  | ({ readonly kind: 'tool' } & Call<'toolFinished'>)
  | ({ readonly kind: 'run' } & Call<'runEnded'>);

/** Keeps every report of the runs, in order (for assertions). */
export class RecordingObserver implements RunObserver {
  readonly events: Observed[] = [];

  modelCalled(call: Call<'modelCalled'>): void {
    this.events.push({ kind: 'model', ...call });
  }

  toolFinished(call: Call<'toolFinished'>): void {
    this.events.push({ kind: 'tool', ...call });
  }

  runEnded(run: Call<'runEnded'>): void {
    this.events.push({ kind: 'run', ...run });
  }

  /** The reports of one kind. */
  of<K extends Observed['kind']>(kind: K): Extract<Observed, { kind: K }>[] {
    return this.events.filter((event): event is Extract<Observed, { kind: K }> => event.kind === kind);
  }
}
