import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { RunStatus, ToolOutcome } from '../core/domain';
import { DomainError } from '../core/errors';
import type { RunObserver } from '../core/ports';
import { statusOf } from '../http/response';
import { LATENCY_METRICS, METRICS_NAMESPACE, RUN_METRICS, TOKEN_METRICS, TOOL_CALL_METRICS } from '../metric-names';

const RUN_STATUS_METRIC: Readonly<Record<RunStatus, string>> = {
  completed: RUN_METRICS.completed,
  in_progress: RUN_METRICS.inProgress,
  awaiting_approval: RUN_METRICS.awaitingApproval,
  needs_authorization: RUN_METRICS.needsAuthorization,
};

const TOOL_OUTCOME_METRIC: Readonly<Record<ToolOutcome, string>> = {
  succeeded: TOOL_CALL_METRICS.succeeded,
  failed: TOOL_CALL_METRICS.failed,
  denied: TOOL_CALL_METRICS.denied,
  unknown: TOOL_CALL_METRICS.unknown,
};

/**
 * The chat function's metrics (Powertools Metrics, embedded metric format on stdout): what the
 * runs report through `RunObserver`, under the names the stack alarms on and charts
 * (`functions/metric-names.ts`), with the `service` dimension `chat`. Stored during a request and
 * written once when it ends (`flush`).
 */
export class ChatMetrics implements RunObserver {
  private readonly metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName: 'chat' });

  modelCalled(call: Parameters<RunObserver['modelCalled']>[0]): void {
    this.metrics.addMetric(LATENCY_METRICS.model, MetricUnit.Milliseconds, call.latencyMs);
    this.metrics.addMetric(TOKEN_METRICS.inputTokens, MetricUnit.Count, call.usage.inputTokens);
    this.metrics.addMetric(TOKEN_METRICS.outputTokens, MetricUnit.Count, call.usage.outputTokens);
    this.metrics.addMetric(TOKEN_METRICS.cacheCreationInputTokens, MetricUnit.Count, call.usage.cacheCreationInputTokens);
    this.metrics.addMetric(TOKEN_METRICS.cacheReadInputTokens, MetricUnit.Count, call.usage.cacheReadInputTokens);
  }

  toolFinished(call: Parameters<RunObserver['toolFinished']>[0]): void {
    this.metrics.addMetric(TOOL_OUTCOME_METRIC[call.outcome], MetricUnit.Count, 1);
    if (call.durationMs !== undefined) this.metrics.addMetric(LATENCY_METRICS.tool, MetricUnit.Milliseconds, call.durationMs);
  }

  runEnded(run: Parameters<RunObserver['runEnded']>[0]): void {
    this.metrics.addMetric(RUN_STATUS_METRIC[run.status], MetricUnit.Count, 1);
    if (run.stoppedBy === 'deadline') this.metrics.addMetric(RUN_METRICS.stoppedByDeadline, MetricUnit.Count, 1);
    if (run.stoppedBy === 'quota') this.metrics.addMetric(RUN_METRICS.stoppedByQuota, MetricUnit.Count, 1);
  }

  /** A run request that failed: counted when its answer is a server error (a client's mistake is no failed run). */
  runFailed(error: unknown): void {
    if (error instanceof DomainError && statusOf(error.code) < 500) return;
    this.metrics.addMetric(RUN_METRICS.failed, MetricUnit.Count, 1);
  }

  /** Writes what this request stored, if anything (one EMF line). */
  flush(): void {
    if (this.metrics.hasStoredMetrics()) this.metrics.publishStoredMetrics();
  }
}
