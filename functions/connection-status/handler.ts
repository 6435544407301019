import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logger } from '../adapters/runtime';
import { deps } from './deps';
import { checkConnectionStatuses, type StatusCheckSummary } from '../core/connections';

const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'onbehalf', serviceName: 'connection-status' });

/**
 * The scheduled `connection-status` function: refreshes every user's registry entry from
 * Scalekit and emits one count per status, plus how many changed.
 */
export const handler = async (): Promise<StatusCheckSummary> => {
  const summary = await checkConnectionStatuses(await deps());
  for (const [status, count] of Object.entries(summary.byStatus)) {
    metrics.addMetric(`accounts_${status}`, MetricUnit.Count, count);
  }
  metrics.addMetric('accounts_changed', MetricUnit.Count, summary.changed);
  metrics.publishStoredMetrics();
  logger.info('connection statuses checked', { checked: summary.checked, changed: summary.changed, durationMs: summary.durationMs });
  return summary;
};
