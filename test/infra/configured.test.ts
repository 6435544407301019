import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { openRoutes, routes, USER_SCOPE } from '../../infra/routes';
import { logicalId, resourcesOf, synthesize, type Synthesized } from './synth';

const ORIGIN = 'https://console.example.com';
const ALARM_EMAIL = 'ops@example.com';

let synth: Synthesized;

beforeAll(() => {
  // Prepare: a deployment configured through context and environment, as `cdk deploy -c …` would be.
  synth = synthesize({
    context: {
      webOrigin: ORIGIN,
      defaultVerifyUrl: `${ORIGIN}/connections/verified`,
      statusSchedule: 'rate(1 hour)',
      connections: ['asana'],
      toolPolicy: { asana_task_create: 'confirm' },
      throttleRateLimit: 5,
      stackPrefix: 'Acme',
      alarmEmail: ALARM_EMAIL,
    },
    env: {
      SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev/',
      ONBEHALF_MODEL_ID: 'claude-opus-4-1',
      ONBEHALF_LOG_RETENTION_DAYS: '90',
    },
  });
});

describe('a configured deployment', () => {
  it('names its stacks after the prefix', () => {
    expect([synth.stateful.stackName, synth.api.stackName]).toEqual(['Acme-Stateful', 'Acme-Api']);
  });

  it('answers CORS preflight only for the console origin, on exactly the routed resources, with no function behind it', () => {
    // Prepare
    const methods = Object.values(resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::Method')).map((method) => method.Properties);
    const options = methods.filter((method) => method.HttpMethod === 'OPTIONS');
    // Assess
    expect(options).toHaveLength(new Set([...routes, ...openRoutes].map((route) => route.path)).size);
    const routed = methods.filter((method) => method.HttpMethod !== 'OPTIONS' && method.AuthorizationType !== 'NONE');
    expect(routed).toHaveLength(routes.length);
    for (const method of routed) {
      expect(method).toMatchObject({ AuthorizationType: 'COGNITO_USER_POOLS', AuthorizationScopes: [USER_SCOPE] });
    }
    for (const method of options) {
      expect(method).toMatchObject({ AuthorizationType: 'NONE', Integration: { Type: 'MOCK' } });
      const integration = method.Integration as {
        IntegrationResponses: { StatusCode: string; ResponseParameters: Record<string, string> }[];
      };
      expect(integration.IntegrationResponses).toHaveLength(1);
      const [answer] = integration.IntegrationResponses;
      expect(answer!.StatusCode).toBe('204');
      const header = (name: string) => answer!.ResponseParameters[`method.response.header.${name}`];
      expect(header('Access-Control-Allow-Origin')).toBe(`'${ORIGIN}'`);
      expect(header('Access-Control-Allow-Headers')).toBe("'Authorization, Content-Type, Accept'");
      expect(header('Access-Control-Expose-Headers')).toBe("'Retry-After'");
      expect(header('Vary')).toBe("'Origin'");
      expect(header('Cache-Control')).toBe("'no-store'");
      expect(header('X-Content-Type-Options')).toBe("'nosniff'");
      expect(JSON.stringify(method)).not.toContain("'*'");
    }
  });

  it('allows in each preflight exactly the methods routed at that path', () => {
    // Prepare
    const resources = resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::Method');
    const byResource = new Map<string, { routed: string[]; allowed?: string }>();
    for (const method of Object.values(resources)) {
      const key = JSON.stringify(method.Properties.ResourceId);
      const entry = byResource.get(key) ?? { routed: [] };
      if (method.Properties.HttpMethod === 'OPTIONS') {
        const integration = method.Properties.Integration as { IntegrationResponses: { ResponseParameters: Record<string, string> }[] };
        entry.allowed = integration.IntegrationResponses[0]?.ResponseParameters['method.response.header.Access-Control-Allow-Methods'];
      } else {
        entry.routed.push(String(method.Properties.HttpMethod));
      }
      byResource.set(key, entry);
    }
    // Assess
    expect(byResource.size).toBe(new Set([...routes, ...openRoutes].map((route) => route.path)).size);
    for (const { routed, allowed } of byResource.values()) {
      expect(allowed).toBeDefined();
      const listed = allowed!.replace(/'/g, '').split(', ');
      expect(listed.sort()).toEqual([...routed, 'OPTIONS'].sort());
    }
  });

  it('lets the browser read gateway errors from the console origin', () => {
    for (const response of Object.values(resourcesOf(synth.apiTemplate, 'AWS::ApiGateway::GatewayResponse'))) {
      expect(response.Properties.ResponseParameters).toMatchObject({
        'gatewayresponse.header.Access-Control-Allow-Origin': `'${ORIGIN}'`,
        'gatewayresponse.header.Access-Control-Expose-Headers': "'Retry-After'",
        'gatewayresponse.header.Vary': "'Origin'",
        'gatewayresponse.header.Cache-Control': "'no-store'",
        'gatewayresponse.header.X-Content-Type-Options': "'nosniff'",
      });
    }
  });

  it('passes the settings to every function', () => {
    // Prepare
    const functions = resourcesOf(synth.apiTemplate, 'AWS::Lambda::Function');
    for (const fn of Object.values(synth.api.functions)) {
      const env = (functions[logicalId(synth.api, fn.function)]?.Properties.Environment as { Variables: unknown } | undefined)?.Variables;
      // Assess
      expect(env, fn.node.id).toMatchObject({
        SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev',
        ONBEHALF_WEB_ORIGIN: ORIGIN,
        ONBEHALF_DEFAULT_VERIFY_URL: `${ORIGIN}/connections/verified`,
        ONBEHALF_MODEL_ID: 'claude-opus-4-1',
        ONBEHALF_TOOL_POLICY: JSON.stringify({ asana_task_create: 'confirm' }),
      });
    }
  });

  it('applies the schedule, throttling, log retention and the alarm e-mail', () => {
    synth.apiTemplate.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 hour)' });
    synth.apiTemplate.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 20 })],
    });
    for (const logGroup of Object.values(resourcesOf(synth.apiTemplate, 'AWS::Logs::LogGroup'))) {
      expect(logGroup.Properties.RetentionInDays).toBe(90);
    }
    const topic = { Ref: logicalId(synth.api, synth.api.alarmTopic) };
    synth.apiTemplate.resourceCountIs('AWS::SNS::Subscription', 1);
    synth.apiTemplate.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: ALARM_EMAIL, TopicArn: topic });
    const alarms = Object.values(resourcesOf(synth.apiTemplate, 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([topic]);
  });
});
