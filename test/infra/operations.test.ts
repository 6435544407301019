import { Capture, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_METRICS, RUN_METRICS, TOKEN_METRICS, TOOL_CALL_METRICS } from '../../functions/metric-names';
import { routes } from '../../infra/routes';
import { SettingsError } from '../../infra/settings';
import { STAGE_NAME } from '../../infra/stacks/api-stack';
import { functionSpecs } from '../../infra/stacks/function-specs';
import { logicalId, resourcesOf, synthesize, type Synthesized } from './synth';

let synth: Synthesized;
let alarms: Record<string, Record<string, unknown>>;

beforeAll(() => {
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' } });
  alarms = Object.fromEntries(
    Object.entries(resourcesOf(synth.apiTemplate, 'AWS::CloudWatch::Alarm')).map(([id, alarm]) => [id, alarm.Properties]),
  );
});

const functionArn = () => ({ 'Fn::GetAtt': [logicalId(synth.api, synth.api.functions['connection-status'].function), 'Arn'] });

describe('settings that stick', () => {
  it('fails synthesis without the Scalekit environment URL, naming the setting', () => {
    // Act
    const run = () => synthesize({ env: {} });
    // Assess
    expect(run).toThrow(SettingsError);
    expect(run).toThrow(
      /setting "scalekitEnvironmentUrl" \(context key "scalekitEnvironmentUrl" or environment variable SCALEKIT_ENVIRONMENT_URL\)/,
    );
  });

  it('protects the stateful stack from termination, and only that one', () => {
    // Act
    const assembly = synth.app.synth();
    // Assess
    expect(assembly.getStackByName(synth.stateful.stackName).terminationProtection).toBe(true);
    expect(assembly.getStackByName(synth.api.stackName).terminationProtection).toBeFalsy();
  });
});

describe('the connection-status schedule', () => {
  it('is an EventBridge Scheduler schedule with retries and a dead-letter queue, and no legacy rule', () => {
    // Prepare
    const deadLetters = new Capture();
    const retries = new Capture();
    // Assess
    synth.apiTemplate.resourceCountIs('AWS::Events::Rule', 0);
    synth.apiTemplate.resourceCountIs('AWS::Scheduler::Schedule', 1);
    synth.apiTemplate.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Target: {
        Arn: functionArn(),
        RetryPolicy: { MaximumRetryAttempts: retries, MaximumEventAgeInSeconds: 600 },
        DeadLetterConfig: { Arn: deadLetters },
      },
    });
    expect(retries.asNumber()).toBeGreaterThan(0);
    expect(deadLetters.asObject()).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ConnectionStatusDeadLetters/), 'Arn'] });
  });

  it('sends a run that still fails after Lambda’s retries to the same dead-letter queue', () => {
    // Prepare
    const scheduleDeadLetters = new Capture();
    synth.apiTemplate.hasResourceProperties('AWS::Scheduler::Schedule', { Target: { DeadLetterConfig: { Arn: scheduleDeadLetters } } });
    // Assess
    synth.apiTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(synth.api, synth.api.functions['connection-status'].function) },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: scheduleDeadLetters.asObject() } },
    });
  });

  it('lets the scheduler invoke only that function and write only to its dead-letter queue', () => {
    // Prepare
    const role = new Capture();
    synth.apiTemplate.hasResourceProperties('AWS::Scheduler::Schedule', { Target: { RoleArn: { 'Fn::GetAtt': [role, 'Arn'] } } });
    // Assess
    synth.apiTemplate.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' }, Action: 'sts:AssumeRole' })],
      },
    });
    const policies = Object.values(resourcesOf(synth.apiTemplate, 'AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(role.asString()),
    );
    const statements = policies.flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: { Action: unknown }[] }).Statement);
    expect(statements.map((statement) => statement.Action).sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
  });

  it('alarms as soon as one message sits in the dead-letter queue', () => {
    const onQueue = Object.values(alarms).filter(
      (alarm) => alarm.Namespace === 'AWS/SQS' && alarm.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    expect(onQueue).toHaveLength(1);
    expect(onQueue[0]).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [expect.stringMatching(/^ConnectionStatusDeadLetters/), 'QueueName'] } }],
    });
  });
});

describe('alarms and the topic they notify', () => {
  it('creates one SNS topic, with no subscription unless alarmEmail is set, and outputs its ARN', () => {
    synth.apiTemplate.resourceCountIs('AWS::SNS::Topic', 1);
    synth.apiTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
    synth.apiTemplate.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(synth.api, synth.api.alarmTopic) } });
  });

  it('wires every alarm to the topic, on alarm and on recovery', () => {
    const topic = { Ref: logicalId(synth.api, synth.api.alarmTopic) };
    expect(Object.keys(alarms).length).toBeGreaterThan(0);
    for (const [id, alarm] of Object.entries(alarms)) {
      expect(alarm.AlarmActions, id).toEqual([topic]);
      expect(alarm.OKActions, id).toEqual([topic]);
    }
  });

  it('alarms on every function’s errors and throttles', () => {
    for (const fn of Object.values(synth.api.functions)) {
      const dimensions = [{ Name: 'FunctionName', Value: { Ref: logicalId(synth.api, fn.function) } }];
      for (const metric of ['Errors', 'Throttles']) {
        synth.apiTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: dimensions,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    }
  });

  it('alarms on the API’s 5XXError', () => {
    synth.apiTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Statistic: 'Sum',
      Dimensions: [{ Name: 'ApiName', Value: Match.anyValue() }],
      Threshold: 1,
    });
  });

  it('alarms on the p95 latency of every buffered route, and of no streamed (chat) route', () => {
    // Prepare
    const latency = Object.values(alarms).find((alarm) => JSON.stringify(alarm.Metrics ?? []).includes('"Latency"'));
    const queries = (latency?.Metrics ?? []) as {
      Expression?: string;
      MetricStat?: { Stat: string; Metric: { MetricName: string; Dimensions: { Name: string; Value: unknown }[] } };
    }[];
    const watched = queries
      .filter((query) => query.MetricStat !== undefined)
      .map((query) => {
        const dimension = (name: string) => query.MetricStat!.Metric.Dimensions.find((d) => d.Name === name)?.Value;
        expect(query.MetricStat!.Stat).toBe('p95');
        expect(dimension('Stage')).toBe(STAGE_NAME);
        return `${String(dimension('Method'))} ${String(dimension('Resource'))}`;
      });
    const runRoute = (route: (typeof routes)[number]) => functionSpecs[route.function].streams === true;
    // Assess
    expect(latency).toMatchObject({ Threshold: 5000, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(queries.find((query) => query.Expression !== undefined)?.Expression).toMatch(/^MAX\(\[/);
    expect(watched.sort()).toEqual(
      routes
        .filter((route) => !runRoute(route))
        .map((route) => `${route.method} ${route.path}`)
        .sort(),
    );
    expect(routes.some(runRoute)).toBe(true);
  });

  it('alarms on chat runs stopped by their deadline, from chat’s own metric', () => {
    synth.apiTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'onbehalf',
      MetricName: RUN_METRICS.stoppedByDeadline,
      Dimensions: [{ Name: 'service', Value: 'chat' }],
      Statistic: 'Sum',
      Threshold: 5,
    });
  });
});

describe('the dashboard', () => {
  it('exists, is named after the prefix, and charts the API, the functions and chat’s metrics', () => {
    // Prepare
    const body = new Capture();
    synth.apiTemplate.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    synth.apiTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'Onbehalf-onbehalf', DashboardBody: body });
    // Act: the body is a Fn::Join of literal JSON and references.
    const text = JSON.stringify(body.asObject());
    // Assess
    for (const metric of [
      '5XXError',
      'Latency',
      'Errors',
      'Throttles',
      'Duration',
      'ApproximateNumberOfMessagesVisible',
      ...Object.values(RUN_METRICS),
      ...Object.values(TOOL_CALL_METRICS),
      ...Object.values(TOKEN_METRICS),
      ...Object.values(LATENCY_METRICS),
    ]) {
      expect(text, metric).toContain(`\\"${metric}\\"`);
    }
  });
});
