import { describe, expect, it } from 'vitest';
import { configSchema, DEFAULT_TOOL_ALLOWLIST } from '../../functions/config';
import { DEFAULT_VERIFY_URL, functionEnvironment, loadSettings, SettingsError, settingSources } from '../../infra/settings';

const SCALEKIT_URL = 'https://acme.scalekit.dev';

/** Settings with the one required setting given (in the environment), unless the test gives it. */
const load = (context: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
  loadSettings({ context: (key) => context[key], env: { SCALEKIT_ENVIRONMENT_URL: SCALEKIT_URL, ...env } });

function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as Error).message;
  }
  throw new Error('expected a SettingsError');
}

describe('deployment settings', () => {
  it.each([
    ['missing', {}],
    ['empty', { SCALEKIT_ENVIRONMENT_URL: ' ' }],
  ])('fails when the Scalekit environment URL is %s, naming the setting and where to keep it', (_, env) => {
    // Act
    const message = errorOf(() => loadSettings({ context: () => undefined, env }));
    // Assess
    expect(message).toContain(
      'setting "scalekitEnvironmentUrl" (context key "scalekitEnvironmentUrl" or environment variable SCALEKIT_ENVIRONMENT_URL)',
    );
    expect(message).toContain('is required');
    expect(message).toContain('cdk.context.json');
  });

  it('takes the Scalekit environment URL from cdk.context.json (context) over the shell', () => {
    // Act
    const settings = loadSettings({
      context: (key) => (key === 'scalekitEnvironmentUrl' ? 'https://kept.scalekit.dev' : undefined),
      env: { SCALEKIT_ENVIRONMENT_URL: 'https://other-shell.scalekit.dev' },
    });
    // Assess
    expect(functionEnvironment(settings).SCALEKIT_ENVIRONMENT_URL).toBe('https://kept.scalekit.dev');
  });

  it('defaults to the functions’ own defaults, a loopback verify URL and a 15-minute schedule', () => {
    // Act
    const settings = load();
    // Assess
    expect(settings).toMatchObject({
      stackPrefix: 'Onbehalf',
      connections: ['asana'],
      toolAllowlist: [...DEFAULT_TOOL_ALLOWLIST],
      toolPolicy: {},
      modelId: 'claude-sonnet-4-6',
      defaultVerifyUrl: DEFAULT_VERIFY_URL,
      webOrigin: undefined,
      statusSchedule: 'rate(15 minutes)',
      timeBudgetMs: 25_000,
      modelCallBudget: 20,
      throttleRateLimit: 10,
      throttleBurstLimit: 20,
      logRetentionDays: 30,
      alarmEmail: undefined,
      latencyAlarmMs: 5_000,
      deadlineStopsAlarm: 5,
      secretsMaxAgeSeconds: 300,
      userRequestsPerMinute: 60,
      userDailyTokens: 1_000_000,
    });
    expect(functionEnvironment(settings).SCALEKIT_ENVIRONMENT_URL).toBe(SCALEKIT_URL);
  });

  it('takes context first, then the environment, then the default', () => {
    // Act
    const settings = load(
      { modelId: 'from-context', timeBudgetMs: 20_000 },
      { ONBEHALF_MODEL_ID: 'from-env', ONBEHALF_MODEL_CALL_BUDGET: '7', ONBEHALF_TIME_BUDGET_MS: '10000' },
    );
    // Assess
    expect(settings.modelId).toBe('from-context');
    expect(settings.timeBudgetMs).toBe(20_000);
    expect(settings.modelCallBudget).toBe(7);
    expect(settings.leaseSeconds).toBe(60);
  });

  it('reads lists and the tool policy as JSON from cdk.json or as strings from -c and the environment', () => {
    // Act
    const fromJson = load({ connections: ['asana', 'jira'], toolPolicy: { asana_task_create: 'confirm' } });
    const fromStrings = load({}, { ONBEHALF_CONNECTIONS: 'asana, jira', ONBEHALF_TOOL_POLICY: '{"asana_task_create":"deny"}' });
    // Assess
    expect(fromJson.connections).toEqual(['asana', 'jira']);
    expect(fromJson.toolPolicy).toEqual({ asana_task_create: 'confirm' });
    expect(fromStrings.connections).toEqual(['asana', 'jira']);
    expect(functionEnvironment(fromStrings)).toMatchObject({
      ONBEHALF_CONNECTIONS: 'asana,jira',
      ONBEHALF_TOOL_POLICY: '{"asana_task_create":"deny"}',
    });
  });

  it('treats an empty environment variable as unset', () => {
    expect(load({}, { ONBEHALF_WEB_ORIGIN: '' }).webOrigin).toBeUndefined();
  });

  it.each([
    [{ timeBudgetMs: 'soon' }, {}, 'setting "timeBudgetMs" (from context key "timeBudgetMs")'],
    [
      {},
      { ONBEHALF_TIME_BUDGET_MS: '28000' },
      'setting "timeBudgetMs" (from environment variable ONBEHALF_TIME_BUDGET_MS): must be at most 26000',
    ],
    [
      {},
      { ONBEHALF_STREAM_TIME_BUDGET_MS: '900000' },
      'setting "streamTimeBudgetMs" (from environment variable ONBEHALF_STREAM_TIME_BUDGET_MS): must be at most 840000',
    ],
    [
      { chatTimeoutSeconds: 300 },
      {},
      'setting "chatTimeoutSeconds" (from context key "chatTimeoutSeconds"): must be at least the streaming budget plus 30 s (330',
    ],
    [
      {},
      { ONBEHALF_STREAM_TIME_BUDGET_MS: '600000', ONBEHALF_CHAT_TIMEOUT_SECONDS: '600' },
      'setting "chatTimeoutSeconds" (from environment variable ONBEHALF_CHAT_TIMEOUT_SECONDS): must be at least the streaming budget plus 30 s (630',
    ],
    [
      {},
      { ONBEHALF_CHAT_TIMEOUT_SECONDS: '901' },
      'setting "chatTimeoutSeconds" (from environment variable ONBEHALF_CHAT_TIMEOUT_SECONDS): must be at most 900',
    ],
    [
      {},
      { SCALEKIT_ENVIRONMENT_URL: 'acme.scalekit.dev' },
      'setting "scalekitEnvironmentUrl" (from environment variable SCALEKIT_ENVIRONMENT_URL)',
    ],
    [{ toolPolicy: '{not json' }, {}, 'setting "toolPolicy" (from context key "toolPolicy"): must be JSON'],
    [{ toolPolicy: { asana_task_create: 'maybe' } }, {}, 'setting "toolPolicy"'],
    [
      { statusSchedule: 'every 15 minutes' },
      {},
      'setting "statusSchedule" (from context key "statusSchedule"): must be an EventBridge schedule expression',
    ],
    [{ statusSchedule: 'rate(1 minutes)' }, {}, 'setting "statusSchedule"'],
    [{ logRetentionDays: 9999 }, {}, 'setting "logRetentionDays" (from context key "logRetentionDays"): must be one of'],
    [{ webOrigin: 'https://console.example.com/app' }, {}, 'setting "webOrigin" (from context key "webOrigin"): must be an origin'],
    [{ stackPrefix: '1st' }, {}, 'setting "stackPrefix"'],
    [{ userRequestsPerMinute: 0 }, {}, 'setting "userRequestsPerMinute" (from context key "userRequestsPerMinute")'],
    [{}, { ONBEHALF_USER_DAILY_TOKENS: 'lots' }, 'setting "userDailyTokens" (from environment variable ONBEHALF_USER_DAILY_TOKENS)'],
    [
      {},
      { ONBEHALF_CONVERSATION_TTL_DAYS: '0' },
      'setting "conversationTtlDays" (from environment variable ONBEHALF_CONVERSATION_TTL_DAYS)',
    ],
    [{ conversationTtlDays: 'forever' }, {}, 'setting "conversationTtlDays" (from context key "conversationTtlDays")'],
    [
      {},
      { ONBEHALF_ALARM_EMAIL: 'ops at example.com' },
      'setting "alarmEmail" (from environment variable ONBEHALF_ALARM_EMAIL): must be an e-mail address',
    ],
  ])('refuses %o / %o, naming the setting and where it came from', (context, env, message) => {
    expect(errorOf(() => load(context, env))).toContain(message);
  });

  it('derives the chat function’s timeout from the streaming budget unless it is set, within the rules', () => {
    expect(load().chatTimeoutSeconds).toBe(330);
    expect(load({}, { ONBEHALF_STREAM_TIME_BUDGET_MS: '840000' }).chatTimeoutSeconds).toBe(870);
    expect(load({ chatTimeoutSeconds: 900 }).chatTimeoutSeconds).toBe(900);
    expect(load({}, { ONBEHALF_TIME_BUDGET_MS: '26000' }).timeBudgetMs).toBe(26_000);
  });

  it('keeps conversations 90 days unless told otherwise, and passes the retention to the functions', () => {
    expect(load().conversationTtlDays).toBe(90);
    expect(functionEnvironment(load({ conversationTtlDays: 30 })).ONBEHALF_CONVERSATION_TTL_DAYS).toBe('30');
  });

  it('lists every bad setting at once', () => {
    const message = errorOf(() => load({ maxTokens: -1 }, { ONBEHALF_LEASE_SECONDS: 'x' }));
    expect(message).toContain('"maxTokens"');
    expect(message).toContain('"leaseSeconds"');
  });

  it('accepts a default verify URL only over https or on loopback', () => {
    // Act / Assess
    expect(load({ defaultVerifyUrl: 'http://localhost:5000/done' }).defaultVerifyUrl).toBe('http://localhost:5000/done');
    expect(load({ defaultVerifyUrl: 'https://console.example.com/verify' }).defaultVerifyUrl).toBe('https://console.example.com/verify');
    expect(errorOf(() => load({ defaultVerifyUrl: 'http://console.example.com/verify' }))).toContain('setting "defaultVerifyUrl"');
    expect(errorOf(() => load({ defaultVerifyUrl: 'https://user:pw@console.example.com/verify' }))).toContain('setting "defaultVerifyUrl"');
  });

  it('refuses a tool policy for tools outside the allowlist, and an empty allowlist', () => {
    expect(errorOf(() => load({ toolAllowlist: 'asana_task_get', toolPolicy: { asana_task_create: 'confirm' } }))).toContain(
      'setting "toolPolicy" (from context key "toolPolicy"): names tools that are not in toolAllowlist (keys are tool names or read, write, delete): asana_task_create',
    );
    expect(errorOf(() => load({}, { ONBEHALF_TOOL_ALLOWLIST: ' , ' }))).toContain('setting "toolAllowlist"');
  });

  it('refuses settings that would not fit in Lambda’s 4 KiB environment', () => {
    const allowlist = Array.from({ length: 200 }, (_, i) => `asana_tool_number_${i}`);
    expect(errorOf(() => load({ toolAllowlist: allowlist }))).toContain('4 KiB');
  });

  it('passes every ONBEHALF_* setting functions/config.ts reads, under its name', () => {
    // Prepare
    const read = Object.keys(configSchema.shape).filter((key) => key.startsWith('ONBEHALF_'));
    // Act
    const passed = Object.keys(functionEnvironment(load({ webOrigin: 'https://console.example.com' })));
    // Assess
    expect(passed.filter((key) => key.startsWith('ONBEHALF_')).sort()).toEqual(read.sort());
    expect(passed).toContain('SCALEKIT_ENVIRONMENT_URL');
    for (const env of Object.values(settingSources)) {
      expect(env.startsWith('ONBEHALF_') || env === 'SCALEKIT_ENVIRONMENT_URL', env).toBe(true);
    }
  });
});
