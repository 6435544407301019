import { Annotations, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
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
  RestApi,
  type IResource,
} from 'aws-cdk-lib/aws-apigateway';
import { Alarm, ComparisonOperator, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { edgeHeaders, preflightHeaders } from '../../functions/http/headers';
import { OnbehalfFunction, type SecretEnvName } from '../constructs/onbehalf-function';
import { routes, type HttpMethod } from '../routes';
import { functionEnvironment, type Settings } from '../settings';
import { errorTemplate, gatewayErrorResponses } from './gateway-responses';
import { functionSpecs, type DeployedFunctionName } from './function-specs';
import type { StatefulResources } from './stateful-stack';

export interface ApiStackProps extends StackProps {
  readonly settings: Settings;
  readonly stateful: StatefulResources;
}

/** The stage name: the API's base URL is `https://<id>.execute-api.<region>.amazonaws.com/v1`. */
export const STAGE_NAME = 'v1';

/**
 * The stateless part: the four functions, the REST API built from `infra/routes.ts` (every
 * method behind the Cognito authorizer with the route's scope, so only access tokens pass),
 * gateway responses in the contract's error shape, stage throttling and access logs, CORS
 * for the web console origin only (when one is configured), the schedule of
 * `connection-status`, and alarms on function errors and throttles and on API 5xx.
 */
export class ApiStack extends Stack {
  readonly functions: Readonly<Record<DeployedFunctionName, OnbehalfFunction>>;
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { settings, stateful } = props;
    const logRetention = settings.logRetentionDays as RetentionDays;

    if (!settings.scalekitEnvironmentUrlIsSet) {
      Annotations.of(this).addWarningV2(
        'onbehalf:scalekit-environment-url',
        'scalekitEnvironmentUrl is not set (context key scalekitEnvironmentUrl or SCALEKIT_ENVIRONMENT_URL): ' +
          'the functions get a placeholder and cannot reach Scalekit until it is set and deployed again.',
      );
    }

    this.functions = this.createFunctions(settings, stateful, logRetention);
    this.api = this.createApi(settings, stateful, logRetention);
    this.scheduleConnectionStatus(settings);
    this.createAlarms(settings);

    // RestApi's own output ends with a slash; ApiUrl below replaces it.
    this.api.node.tryRemoveChild('Endpoint');
    new CfnOutput(this, 'ApiUrl', {
      value: Fn.join('', ['https://', this.api.restApiId, '.execute-api.', this.region, '.', this.urlSuffix, `/${STAGE_NAME}`]),
      description: 'Base URL of the HTTPS API (no trailing slash)',
    });
  }

  private createFunctions(
    settings: Settings,
    stateful: StatefulResources,
    logRetention: RetentionDays,
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
        timeout: spec.timeout,
        logRetention,
        environment,
      });
      fn.grantTable(stateful.table, spec.tableActions);
      for (const envName of spec.secrets) fn.grantSecret(secrets[envName], envName);
      fn.verifyTokensFrom(stateful.userPool, stateful.userPoolClient);
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
        integration = new LambdaIntegration(this.functions[name].function, { allowTestInvoke: false });
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

  private scheduleConnectionStatus(settings: Settings): void {
    new Rule(this, 'ConnectionStatusSchedule', {
      description: 'Refreshes the connection registry from Scalekit',
      schedule: Schedule.expression(settings.statusSchedule),
      targets: [
        new LambdaFunction(this.functions['connection-status'].function, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(10),
        }),
      ],
    });
  }

  private createAlarms(settings: Settings): void {
    const action = settings.alarmTopicArn ? new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn)) : undefined;
    const alarm = (id: string, metric: IMetric, description: string) => {
      const created = new Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      if (action) created.addAlarmAction(action);
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
    alarm('Api5xx', this.api.metricServerError({ period, statistic: 'Sum' }), 'The API answered 5xx.');
  }
}

/** Header values as API Gateway mappings want them: static values in single quotes. */
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
