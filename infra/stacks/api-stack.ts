import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CfnElement, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  CognitoUserPoolsAuthorizer,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  MockIntegration,
  PassthroughBehavior,
  ResponseTransferMode,
  RestApi,
  type IResource,
} from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule as SchedulerSchedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { edgeHeaders, preflightHeaders } from '../../functions/http/headers';
import { OnbehalfFunction, PROJECT_ROOT, type SecretEnvName } from '../constructs/onbehalf-function';
import {
  LATENCY_METRICS,
  LIMIT_METRICS,
  METRICS_NAMESPACE,
  RUN_METRICS,
  SERVICE_DIMENSION,
  TOKEN_METRICS,
  TOOL_CALL_METRICS,
} from '../../functions/metric-names';
import { openRoutes, routes, type HttpMethod, type Route } from '../routes';
import { functionEnvironment, type Settings } from '../settings';
import { errorTemplate, gatewayErrorResponses } from './gateway-responses';
import { functionSpecs, type DeployedFunctionName } from './function-specs';
import type { StatefulResources } from './stateful-stack';

export interface ApiStackProps extends StackProps {
  readonly settings: Settings;
  readonly stateful: StatefulResources;
  /** The web console's app client, when the console is deployed: its access tokens are accepted too. */
  readonly consoleClient?: IUserPoolClient;
}

/** API Gateway's longest integration timeout for a streamed response (15 minutes). */
const STREAM_INTEGRATION_MAX_SECONDS = 900;

/** The stage name: the API's base URL is `https://<id>.execute-api.<region>.amazonaws.com/v1`. */
export const STAGE_NAME = 'v1';

/**
 * The stateless part: the four functions, the REST API built from `infra/routes.ts` (every
 * method behind the Cognito authorizer with the route's scope, so only access tokens pass),
 * gateway responses in the contract's error shape, stage throttling and access logs, CORS
 * for the web console origin only (when one is configured), the schedule of
 * `connection-status` with its dead-letter queue, the alarm topic every alarm notifies, and the
 * dashboard.
 */
export class ApiStack extends Stack {
  readonly functions: Readonly<Record<DeployedFunctionName, OnbehalfFunction>>;
  readonly api: RestApi;
  readonly alarmTopic: Topic;
  readonly dashboard: Dashboard;
  /** Base URL of the HTTPS API (no trailing slash). */
  readonly apiUrl: string;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { settings, stateful } = props;
    const logRetention = settings.logRetentionDays as RetentionDays;

    this.functions = this.createFunctions(settings, stateful, logRetention, props.consoleClient);
    this.api = this.createApi(settings, stateful, logRetention);
    const deadLetters = this.scheduleConnectionStatus(settings);
    this.alarmTopic = this.createAlarms(settings, deadLetters);
    this.dashboard = this.createDashboard(settings, deadLetters);
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Every alarm notifies this SNS topic (alarmEmail subscribes an address; add others with sns subscribe)',
    });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName, description: 'The CloudWatch dashboard' });

    // RestApi's own output ends with a slash; ApiUrl below replaces it.
    this.api.node.tryRemoveChild('Endpoint');
    this.apiUrl = Fn.join('', ['https://', this.api.restApiId, '.execute-api.', this.region, '.', this.urlSuffix, `/${STAGE_NAME}`]);
    new CfnOutput(this, 'ApiUrl', {
      value: this.apiUrl,
      description: 'Base URL of the HTTPS API (no trailing slash)',
    });
  }

  private createFunctions(
    settings: Settings,
    stateful: StatefulResources,
    logRetention: RetentionDays,
    consoleClient: IUserPoolClient | undefined,
  ): Record<DeployedFunctionName, OnbehalfFunction> {
    const secrets: Record<SecretEnvName, StatefulResources['scalekitSecret']> = {
      SCALEKIT_SECRET_ARN: stateful.scalekitSecret,
      ANTHROPIC_SECRET_ARN: stateful.anthropicSecret,
    };
    const environment = functionEnvironment(settings);
    const build = (name: DeployedFunctionName): OnbehalfFunction => {
      const spec = functionSpecs[name];
      const fn = new OnbehalfFunction(this, idOf(name), {
        name,
        description: spec.description,
        memorySize: spec.memorySize,
        timeout: spec.streams ? Duration.seconds(settings.chatTimeoutSeconds) : spec.timeout,
        logRetention,
        environment,
      });
      fn.grantTable(stateful.table, spec.tableActions);
      for (const envName of spec.secrets) fn.grantSecret(secrets[envName], envName);
      fn.verifyTokensFrom(stateful.userPool, stateful.userPoolClient, consoleClient);
      return fn;
    };
    // functionSpecs has one entry per route function and per scheduled function.
    const names = Object.keys(functionSpecs) as DeployedFunctionName[];
    return Object.fromEntries(names.map((name) => [name, build(name)])) as Record<DeployedFunctionName, OnbehalfFunction>;
  }

  private createApi(settings: Settings, stateful: StatefulResources, logRetention: RetentionDays): RestApi {
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const api = new RestApi(this, 'Api', {
      restApiName: `${settings.stackPrefix}-api`,
      description: 'onbehalf: Claude acting in Asana only as the user asking',
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      // API Gateway needs an account-level role to write logs. It is account-wide, so it stays
      // when this stack goes (other APIs of the account may rely on it).
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: STAGE_NAME,
        throttlingRateLimit: settings.throttleRateLimit,
        throttlingBurstLimit: settings.throttleBurstLimit,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            requestTime: AccessLogField.contextRequestTime(),
            ip: AccessLogField.contextIdentitySourceIp(),
            userAgent: AccessLogField.contextIdentityUserAgent(),
            method: AccessLogField.contextHttpMethod(),
            resourcePath: AccessLogField.contextResourcePath(),
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            latencyMs: AccessLogField.contextResponseLatency(),
            integrationLatencyMs: AccessLogField.contextIntegrationLatency(),
            sub: AccessLogField.contextAuthorizerClaims('sub'),
            errorType: AccessLogField.contextErrorResponseType(),
            error: AccessLogField.contextErrorMessage(),
          }),
        ),
        // Execution logs: errors only, never request/response bodies (they carry prompts and tokens).
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
      },
    });
    Validations.of(api).acknowledge(
      {
        id: 'AwsSolutions-APIG2',
        reason:
          'Every function validates its request strictly (zod) and answers 400 in the contract’s error shape; ' +
          'API Gateway request models would duplicate the schemas and answer in another shape.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'No WAF by default (a fixed monthly cost per deployment): every method needs a Cognito access token and the stage is throttled. ' +
          'Associate a web ACL with the stage where a deployment needs one.',
      },
    );
    const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account-level role API Gateway uses to write access and execution logs; AWS maintains this policy for exactly that purpose.',
      });
    }

    const authorizer = new CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [stateful.userPool],
      identitySource: 'method.request.header.Authorization',
      resultsCacheTtl: Duration.minutes(5),
    });

    const integrations = new Map<DeployedFunctionName, LambdaIntegration>();
    const integrationFor = (name: DeployedFunctionName): LambdaIntegration => {
      let integration = integrations.get(name);
      if (!integration) {
        const fn = this.functions[name].function;
        // A streaming function answers through response streaming on every route (JSON too), with
        // the integration timeout raised to the function's: API Gateway streams for up to 15 minutes.
        integration = functionSpecs[name].streams
          ? new LambdaIntegration(fn, {
              allowTestInvoke: false,
              responseTransferMode: ResponseTransferMode.STREAM,
              timeout: Duration.seconds(Math.min(settings.chatTimeoutSeconds, STREAM_INTEGRATION_MAX_SECONDS)),
            })
          : new LambdaIntegration(fn, { allowTestInvoke: false });
        integrations.set(name, integration);
      }
      return integration;
    };

    const methodsByResource = new Map<IResource, HttpMethod[]>();
    for (const route of routes) {
      const resource = api.root.resourceForPath(route.path);
      resource.addMethod(route.method, integrationFor(route.function), {
        authorizer,
        authorizationType: AuthorizationType.COGNITO,
        authorizationScopes: [route.scope],
      });
      methodsByResource.set(resource, [...(methodsByResource.get(resource) ?? []), route.method]);
    }

    for (const route of openRoutes) {
      const resource = api.root.resourceForPath(route.path);
      const method = resource.addMethod(route.method, servedFile(route.file, edgeHeaders(settings.webOrigin)), {
        authorizationType: AuthorizationType.NONE,
        methodResponses: [
          {
            statusCode: '200',
            responseParameters: Object.fromEntries(
              ['Content-Type', ...Object.keys(edgeHeaders(settings.webOrigin))].map((name) => [`method.response.header.${name}`, true]),
            ),
          },
        ],
      });
      const reason =
        'The contract serves its OpenAPI document without a token: a constant of the deployment, answered by a mock integration (no function runs).';
      Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason }, { id: 'AwsSolutions-COG4', reason });
      methodsByResource.set(resource, [...(methodsByResource.get(resource) ?? []), route.method]);
    }

    if (settings.webOrigin !== undefined) {
      for (const [resource, methods] of methodsByResource) addPreflight(resource, settings.webOrigin, methods);
    }

    // Gateway responses carry the same edge headers as the functions' answers.
    const ownHeaders = asHeaderParameters(edgeHeaders(settings.webOrigin));
    for (const response of gatewayErrorResponses) {
      api.addGatewayResponse(response.id, {
        type: response.type,
        statusCode: String(response.status),
        responseHeaders: {
          'Content-Type': "'application/json'",
          ...(response.status === 401 ? { 'WWW-Authenticate': "'Bearer'" } : {}),
          ...ownHeaders,
        },
        templates: { 'application/json': errorTemplate(response) },
      });
    }
    return api;
  }

  /**
   * EventBridge Scheduler invokes `connection-status` (asynchronously) on `statusSchedule`. A
   * delivery Scheduler gives up on after its retries, and an invocation that still fails after
   * Lambda's own retries, both land in one dead-letter queue, which is alarmed.
   */
  private scheduleConnectionStatus(settings: Settings): Queue {
    const fn = this.functions['connection-status'].function;
    const deadLetters = new Queue(this, 'ConnectionStatusDeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the connection-status schedule and of the function’s asynchronous ' +
        'invocations; a message here is alarmed and read by an operator, never consumed by code.',
    });
    fn.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.minutes(10),
      onFailure: new SqsDestination(deadLetters),
    });
    const schedulerRole = new Role(this, 'ConnectionStatusSchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': this.account } } }),
      description: 'EventBridge Scheduler invokes connection-status and writes undeliverable runs to its dead-letter queue',
    });
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason:
        'Granting invoke on a function also covers its versions and aliases (`<function ARN>:*`); it is still this one ' +
        'function and nothing else.',
    });
    new SchedulerSchedule(this, 'ConnectionStatusSchedule', {
      description: 'Refreshes the connection registry from Scalekit',
      schedule: ScheduleExpression.expression(settings.statusSchedule),
      target: new LambdaInvoke(fn, {
        role: schedulerRole,
        retryAttempts: 3,
        maxEventAge: Duration.minutes(10),
        deadLetterQueue: deadLetters,
      }),
    });
    return deadLetters;
  }

  /**
   * One SNS topic every alarm notifies (and recovers to); `alarmEmail` subscribes an address
   * (AWS e-mails a confirmation link first). Alarms: each function's errors and throttles, the
   * schedule's dead letters, the API's 5XXError, the p95 latency of the buffered routes (the
   * chat routes stream and are long by design), and chat runs stopped by their deadline.
   */
  private createAlarms(settings: Settings, deadLetters: Queue): Topic {
    const topic = new Topic(this, 'AlarmTopic', {
      displayName: `${settings.stackPrefix} alarms`,
      enforceSSL: true,
    });
    if (settings.alarmEmail !== undefined) topic.addSubscription(new EmailSubscription(settings.alarmEmail));
    const action = new SnsAction(topic);

    const alarm = (id: string, metric: IMetric, description: string, threshold = 1) => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      return created;
    };
    const period = Duration.minutes(5);
    for (const [name, fn] of Object.entries(this.functions)) {
      alarm(
        `${idOf(name)}Errors`,
        fn.function.metricErrors({ period, statistic: 'Sum' }),
        `The ${name} function failed (errors in 5 minutes).`,
      );
      alarm(`${idOf(name)}Throttles`, fn.function.metricThrottles({ period, statistic: 'Sum' }), `The ${name} function was throttled.`);
    }
    alarm(
      'ConnectionStatusDeadLettersAlarm',
      deadLetters.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      'A scheduled connection-status run failed after its retries: read the message in the dead-letter queue, then purge it.',
    );
    alarm('Api5xx', this.api.metricServerError({ period, statistic: 'Sum' }), 'The API answered 5xx.');
    alarm(
      'BufferedRoutesLatency',
      new MathExpression({
        expression: `MAX([${this.bufferedLatencyMetrics()
          .map((_, index) => `p${index}`)
          .join(',')}])`,
        usingMetrics: Object.fromEntries(this.bufferedLatencyMetrics().map((metric, index) => [`p${index}`, metric])),
        period,
        label: 'p95 latency of the slowest buffered route',
      }),
      `The p95 latency of a buffered (non-streamed) route was at least ${settings.latencyAlarmMs} ms over 5 minutes.`,
      settings.latencyAlarmMs,
    );
    alarm(
      'RunsStoppedByDeadline',
      chatMetric(RUN_METRICS.stoppedByDeadline, period),
      `At least ${settings.deadlineStopsAlarm} chat runs in 5 minutes stopped at their time budget (clients must resume them).`,
      settings.deadlineStopsAlarm,
    );
    return topic;
  }

  /** The p95 `Latency` of each buffered route (per-method metrics: the stage has detailed metrics on). */
  private bufferedLatencyMetrics(): Metric[] {
    return routes
      .filter((route) => !isStreamedRoute(route))
      .map(
        (route) =>
          new Metric({
            namespace: 'AWS/ApiGateway',
            metricName: 'Latency',
            dimensionsMap: { ApiName: this.api.restApiName, Method: route.method, Resource: route.path, Stage: STAGE_NAME },
            statistic: 'p95',
            period: Duration.minutes(5),
            label: `${route.method} ${route.path}`,
          }),
      );
  }

  /** What an operator looks at first: the API, the functions, the schedule and chat's own metrics. */
  private createDashboard(settings: Settings, deadLetters: Queue): Dashboard {
    const period = Duration.minutes(5);
    const fns = Object.entries(this.functions);
    const dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${settings.stackPrefix}-onbehalf`,
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new GraphWidget({
        title: 'API requests and errors',
        left: [this.api.metricCount({ period, statistic: 'Sum' })],
        right: [this.api.metricClientError({ period, statistic: 'Sum' }), this.api.metricServerError({ period, statistic: 'Sum' })],
        width: 12,
      }),
      new GraphWidget({ title: 'Buffered routes: p95 latency (ms)', left: this.bufferedLatencyMetrics(), width: 12 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Function errors and throttles',
        left: fns.map(([name, fn]) => fn.function.metricErrors({ period, statistic: 'Sum', label: `${name} errors` })),
        right: fns.map(([name, fn]) => fn.function.metricThrottles({ period, statistic: 'Sum', label: `${name} throttles` })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Function duration p95 (ms)',
        left: fns.map(([name, fn]) => fn.function.metricDuration({ period, statistic: 'p95', label: name })),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Chat runs by final status',
        left: Object.values(RUN_METRICS).map((name) => chatMetric(name, period)),
        width: 8,
      }),
      new GraphWidget({
        title: 'Tool calls by outcome',
        left: Object.values(TOOL_CALL_METRICS).map((name) => chatMetric(name, period)),
        width: 8,
      }),
      new GraphWidget({
        title: 'Model tokens',
        left: Object.values(TOKEN_METRICS).map((name) => chatMetric(name, period)),
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Model and tool latency p95 (ms)',
        left: Object.values(LATENCY_METRICS).map((name) => chatMetric(name, period, 'p95')),
        width: 8,
      }),
      new GraphWidget({
        title: 'Requests refused by per-user limits',
        left: Object.values(LIMIT_METRICS).map((name) => chatMetric(name, period)),
        width: 8,
      }),
      new SingleValueWidget({
        title: 'connection-status dead letters',
        metrics: [deadLetters.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })],
        width: 8,
      }),
    );
    return dashboard;
  }
}

/** The routes of a streaming function: long by design, so not latency-alarmed (the rest are "buffered"). */
function isStreamedRoute(route: Route): boolean {
  return functionSpecs[route.function].streams === true;
}

/** A chat metric as Powertools Metrics publishes it (namespace, `service` dimension). */
function chatMetric(metricName: string, period: Duration, statistic = 'Sum'): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: 'chat' },
    statistic,
    period,
  });
}

/** Header values as API Gateway mappings want them: static values in single quotes. */
/**
 * `GET` of a committed file of the project (the OpenAPI document): a mock integration answering
 * it as JSON with `headers`. The file travels base64-encoded and the response template decodes
 * it, so none of its characters (`$`, `#`) is read as template language.
 */
function servedFile(file: string, headers: Record<string, string>): MockIntegration {
  const encoded = readFileSync(join(PROJECT_ROOT, file)).toString('base64');
  const parameters = asHeaderParameters({ 'Content-Type': 'application/json', ...headers });
  return new MockIntegration({
    requestTemplates: { 'application/json': '{"statusCode": 200}' },
    passthroughBehavior: PassthroughBehavior.NEVER,
    integrationResponses: [
      {
        statusCode: '200',
        responseParameters: Object.fromEntries(
          Object.entries(parameters).map(([name, value]) => [`method.response.header.${name}`, value]),
        ),
        responseTemplates: { 'application/json': `$util.base64Decode("${encoded}")` },
      },
    ],
  });
}

function asHeaderParameters(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, `'${value}'`]));
}

/**
 * `OPTIONS` on a route path: a mock integration answering `204` without a token, allowing that
 * path's methods and the headers the console sends, for the console origin only, with the
 * edge headers every answer carries (`functions/http/headers.ts`).
 */
function addPreflight(resource: IResource, webOrigin: string, methods: readonly HttpMethod[]): void {
  const headers = asHeaderParameters(preflightHeaders(webOrigin, methods));
  const names = Object.keys(headers);
  resource.addMethod(
    'OPTIONS',
    new MockIntegration({
      requestTemplates: { 'application/json': '{"statusCode": 204}' },
      passthroughBehavior: PassthroughBehavior.NEVER,
      integrationResponses: [
        {
          statusCode: '204',
          responseParameters: Object.fromEntries(names.map((name) => [`method.response.header.${name}`, headers[name]!])),
        },
      ],
    }),
    {
      authorizationType: AuthorizationType.NONE,
      methodResponses: [
        { statusCode: '204', responseParameters: Object.fromEntries(names.map((name) => [`method.response.header.${name}`, true])) },
      ],
    },
  );
}

/** `connection-status` → `ConnectionStatus`: the construct id of a function. */
function idOf(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
