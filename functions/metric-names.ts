/**
 * The custom CloudWatch metrics the functions emit (Powertools Metrics, embedded metric format)
 * and the stack alarms on and charts. One place, so the emitter and the alarms cannot drift apart.
 * Every metric carries the dimension `service` = the function's name (Powertools' default dimension).
 */
export const METRICS_NAMESPACE = 'onbehalf';

/** The dimension Powertools adds to every metric: `POWERTOOLS_SERVICE_NAME`, which the stack sets to the function's name. */
export const SERVICE_DIMENSION = 'service';

/** Chat runs, by the status a request leaves them in, and how they stopped (count). */
export const RUN_METRICS = {
  completed: 'RunsCompleted',
  inProgress: 'RunsInProgress',
  awaitingApproval: 'RunsAwaitingApproval',
  needsAuthorization: 'RunsNeedingAuthorization',
  /** A run request that ended in a server-side error (a 5xx answer), whatever it had done. */
  failed: 'RunsFailed',
  /** A run paused as `in_progress` because the request's time budget ran out (its deadline). */
  stoppedByDeadline: 'RunsStoppedByDeadline',
  /** A run paused as `in_progress` because the caller's daily token quota ran out. */
  stoppedByQuota: 'RunsStoppedByQuota',
} as const;

/** Tool calls by outcome (count). */
export const TOOL_CALL_METRICS = {
  succeeded: 'ToolCallsSucceeded',
  failed: 'ToolCallsFailed',
  denied: 'ToolCallsDenied',
  unknown: 'ToolCallsUnknown',
} as const;

/** Model tokens per call (count). */
export const TOKEN_METRICS = {
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  cacheCreationInputTokens: 'CacheCreationInputTokens',
  cacheReadInputTokens: 'CacheReadInputTokens',
} as const;

/** Latency of one model call and of one tool execution (milliseconds). */
export const LATENCY_METRICS = { model: 'ModelLatency', tool: 'ToolLatency' } as const;

/** Requests refused by the per-user limits (count). */
export const LIMIT_METRICS = { rateLimited: 'RequestsRateLimited', quotaExceeded: 'RequestsQuotaExceeded' } as const;
