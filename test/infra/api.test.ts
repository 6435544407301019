import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../functions/core/errors';
import { statusOf } from '../../functions/http/response';
import { STAGE_NAME } from '../../infra/stacks/api-stack';
import { functionSpecs } from '../../infra/stacks/function-specs';
import { OPENAPI_DOCUMENT, openRoutes, routes, USER_SCOPE } from '../../infra/routes';
import { PROJECT_ROOT } from '../../infra/constructs/onbehalf-function';
import { logicalId, resourcesOf, synthesize, type Synthesized } from './synth';

let synth: Synthesized;
let methods: { id: string; httpMethod: string; path: string; properties: Record<string, unknown> }[];

/** `{ Ref: id }` or `{ Fn::GetAtt: [api, 'RootResourceId'] }` → the resource's full path. */
function pathsOfResources(): Map<string, string> {
  const resources = resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::Resource');
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const known = paths.get(id);
    if (known !== undefined) return known;
    const properties = resources[id]?.Properties;
    if (!properties) throw new Error(`no resource ${id}`);
    const parent = properties.ParentId as { Ref?: string };
    const parentPath = parent.Ref !== undefined ? pathOf(parent.Ref) : '';
    const path = `${parentPath}/${String(properties.PathPart)}`;
    paths.set(id, path);
    return path;
  };
  for (const id of Object.keys(resources)) pathOf(id);
  return paths;
}

beforeAll(() => {
  // Prepare
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' } });
  const paths = pathsOfResources();
  methods = Object.entries(resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::Method')).map(([id, resource]) => {
    const target = resource.Properties.ResourceId as { Ref?: string };
    return {
      id,
      httpMethod: String(resource.Properties.HttpMethod),
      path: target.Ref !== undefined ? (paths.get(target.Ref) ?? '?') : '/',
      properties: resource.Properties,
    };
  });
});

describe('REST API methods', () => {
  it('has exactly one method per route of infra/routes.ts, and nothing else (no OPTIONS without a web origin)', () => {
    // Act
    const deployed = methods.map((method) => `${method.httpMethod} ${method.path}`).sort();
    // Assess
    expect(deployed).toEqual([...routes, ...openRoutes].map((route) => `${route.method} ${route.path}`).sort());
  });

  it('puts every method behind the Cognito authorizer with the access-token scope; only the open routes are not', () => {
    // Prepare
    const authorizerId = logicalId(synth.api, synth.api.node.findChild('Authorizer'));
    const open = new Set(openRoutes.map((route) => `${route.method} ${route.path}`));
    // Assess
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods.filter((candidate) => !open.has(`${candidate.httpMethod} ${candidate.path}`))) {
      expect(method.httpMethod).not.toBe('OPTIONS');
      expect(method.properties, `${method.httpMethod} ${method.path}`).toMatchObject({
        AuthorizationType: 'COGNITO_USER_POOLS',
        AuthorizerId: { Ref: authorizerId },
        AuthorizationScopes: [USER_SCOPE],
      });
    }
  });

  it('uses an authorizer of the stateful stack’s user pool reading the Authorization header', () => {
    synth.apiTemplate.resourceCountIs('AWS::ApiGateway::Authorizer', 1);
    synth.apiTemplate.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'COGNITO_USER_POOLS',
      IdentitySource: 'method.request.header.Authorization',
      ProviderARNs: [Match.objectLike({ 'Fn::GetStackOutput': Match.objectLike({ StackName: synth.stateful.stackName }) })],
    });
  });

  it('sends each route to its function as a Lambda proxy integration', () => {
    for (const route of routes) {
      // Prepare
      const method = methods.find((candidate) => candidate.httpMethod === route.method && candidate.path === route.path);
      const functionId = logicalId(synth.api, synth.api.functions[route.function].function);
      // Assess
      expect(method?.properties.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' });
      expect(JSON.stringify(method?.properties.Integration), `${route.method} ${route.path}`).toContain(
        JSON.stringify({ 'Fn::GetAtt': [functionId, 'Arn'] }),
      );
    }
  });

  it('answers GET /openapi.json without a token from a mock integration holding the committed document', () => {
    // Prepare
    const method = methods.find((candidate) => candidate.httpMethod === 'GET' && candidate.path === '/openapi.json');
    const integration = method?.properties.Integration as
      | { IntegrationResponses: { ResponseTemplates: Record<string, string>; ResponseParameters: Record<string, string> }[] }
      | undefined;
    const template = integration?.IntegrationResponses[0]?.ResponseTemplates['application/json'] ?? '';
    const encoded = /^\$util\.base64Decode\("([A-Za-z0-9+/=]+)"\)$/.exec(template)?.[1] ?? '';
    // Assess
    expect(method?.properties).toMatchObject({ AuthorizationType: 'NONE', Integration: { Type: 'MOCK' } });
    expect(method?.properties.AuthorizerId).toBeUndefined();
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe(readFileSync(join(PROJECT_ROOT, OPENAPI_DOCUMENT), 'utf8'));
    expect(integration?.IntegrationResponses[0]?.ResponseParameters).toMatchObject({
      'method.response.header.Content-Type': "'application/json'",
      'method.response.header.Cache-Control': "'no-store'",
      'method.response.header.X-Content-Type-Options': "'nosniff'",
    });
  });

  it('never routes to the scheduled connection-status function', () => {
    const functionId = logicalId(synth.api, synth.api.functions['connection-status'].function);
    for (const method of methods) expect(JSON.stringify(method.properties)).not.toContain(functionId);
  });
});

describe('response streaming (docs/api.md, "Deadlines" and "Streaming runs")', () => {
  const integrationOf = (route: (typeof routes)[number], among = methods) =>
    among.find((candidate) => candidate.httpMethod === route.method && candidate.path === route.path)?.properties.Integration as
      | Record<string, unknown>
      | undefined;
  const chatTimeout = (of: Synthesized) =>
    resourcesOf(of.apiTemplate, 'AWS::Lambda::Function')[logicalId(of.api, of.api.functions.chat.function)]?.Properties.Timeout;

  it('streams every route of the chat function, with the integration timeout raised to the function’s', () => {
    const chatRoutes = routes.filter((route) => route.function === 'chat');
    expect(chatRoutes.length).toBe(8);
    for (const route of chatRoutes) {
      const integration = integrationOf(route);
      expect(integration, `${route.method} ${route.path}`).toMatchObject({
        Type: 'AWS_PROXY',
        ResponseTransferMode: 'STREAM',
        TimeoutInMillis: Number(chatTimeout(synth)) * 1000,
      });
      expect(JSON.stringify(integration?.Uri)).toContain('response-streaming-invocations');
    }
  });

  it('keeps the other functions’ routes buffered, under API Gateway’s 29 s', () => {
    for (const route of routes.filter((candidate) => !functionSpecs[candidate.function].streams)) {
      const integration = integrationOf(route);
      expect(integration?.ResponseTransferMode ?? 'BUFFERED', `${route.method} ${route.path}`).toBe('BUFFERED');
      expect(integration?.TimeoutInMillis ?? 29_000).toBeLessThanOrEqual(29_000);
    }
  });

  it('gives the chat function the streaming budget plus 30 s by default (300 s budget → 330 s), at most 900 s', () => {
    expect(synth.settings.streamTimeBudgetMs).toBe(300_000);
    expect(chatTimeout(synth)).toBe(330);
  });

  it('moves the function and integration timeouts with the streaming budget', () => {
    // Act
    const longer = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev', ONBEHALF_STREAM_TIME_BUDGET_MS: '600000' } });
    // Assess
    expect(chatTimeout(longer)).toBe(630);
    const [route] = routes.filter((candidate) => candidate.function === 'chat');
    const methodsOfLonger = Object.values(resourcesOf(longer.apiTemplate, 'AWS::ApiGateway::Method')).map(
      (resource) => resource.Properties,
    );
    const streamed = methodsOfLonger.filter(
      (properties) => (properties.Integration as Record<string, unknown>).ResponseTransferMode === 'STREAM',
    );
    expect(route).toBeDefined();
    expect(streamed).toHaveLength(routes.filter((candidate) => candidate.function === 'chat').length);
    for (const properties of streamed) expect((properties.Integration as Record<string, unknown>).TimeoutInMillis).toBe(630_000);
  });
});

describe('gateway responses', () => {
  const required: [string, number, ErrorCode][] = [
    ['UNAUTHORIZED', 401, 'unauthorized'],
    ['ACCESS_DENIED', 401, 'unauthorized'],
    ['MISSING_AUTHENTICATION_TOKEN', 404, 'not_found'],
    ['THROTTLED', 429, 'rate_limited'],
    ['INTEGRATION_TIMEOUT', 504, 'upstream_timeout'],
    ['DEFAULT_4XX', 400, 'validation_failed'],
    ['DEFAULT_5XX', 500, 'internal_error'],
  ];

  it.each(required)('%s answers %i with the contract error %s', (type, status, code) => {
    // Act
    const found = Object.values(resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::GatewayResponse')).filter(
      (response) => response.Properties.ResponseType === type,
    );
    // Assess
    expect(found).toHaveLength(1);
    const properties = found[0]!.Properties;
    expect(properties.StatusCode).toBe(String(status));
    const templates = properties.ResponseTemplates as Record<string, string>;
    expect(JSON.parse(templates['application/json']!)).toEqual({
      error: { code, message: expect.stringMatching(/^[A-Z].*\.$/), details: [] },
    });
  });

  it('every gateway response is JSON in the error shape, with a code whose contract status it answers', () => {
    for (const response of Object.values(resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::GatewayResponse'))) {
      // Prepare
      const templates = response.Properties.ResponseTemplates as Record<string, string>;
      const body = JSON.parse(templates['application/json']!) as { error: { code: ErrorCode } };
      // Assess
      expect(Object.keys(templates)).toEqual(['application/json']);
      expect(Object.keys(body)).toEqual(['error']);
      expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message']);
      expect(response.Properties.StatusCode).toBe(String(statusOf(body.error.code)));
      expect(response.Properties.ResponseParameters).toMatchObject({
        'gatewayresponse.header.Content-Type': "'application/json'",
        'gatewayresponse.header.Cache-Control': "'no-store'",
        'gatewayresponse.header.X-Content-Type-Options': "'nosniff'",
      });
      expect(JSON.stringify(response.Properties.ResponseParameters)).not.toContain('Access-Control-Allow-Origin');
    }
  });
});

describe('stage', () => {
  it('throttles, writes JSON access logs with the caller, traces, and logs no bodies', () => {
    synth.apiTemplate.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: STAGE_NAME,
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.serializedJson(
          Match.objectLike({ requestId: '$context.requestId', status: '$context.status', sub: '$context.authorizer.claims.sub' }),
        ),
      },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 10,
          ThrottlingBurstLimit: 20,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      ],
    });
  });

  it('outputs the API URL without a trailing slash, the alarm topic and the dashboard', () => {
    const outputs = synth.apiTemplate.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(['AlarmTopicArn', 'ApiUrl', 'DashboardName']);
    expect(JSON.stringify(outputs.ApiUrl)).toContain(`"/${STAGE_NAME}"`);
  });
});
