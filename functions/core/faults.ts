/**
 * The crash-point seam: named points of a run where a test may inject a crash, as a process that
 * dies there would. Never set in a deployment.
 */
export type CrashPoint =
  | 'after_assistant_saved'
  | 'after_tool_started'
  | 'after_tools_finished'
  | 'after_approval_saved'
  | 'before_lease_released';

export interface Faults {
  checkpoint(point: CrashPoint): void;
}
