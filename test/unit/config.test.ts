import { describe, expect, it } from 'vitest';
import { chatTimeoutSecondsFor, checkDeadlines, ConfigError, DEFAULT_TOOL_ALLOWLIST, loadConfig } from '../../functions/config';
import { parseWorld, WorldFileError } from '../../infra/local/world';
import world from '../../infra/local/world.json';

const minimal = {
  TABLE_NAME: 'onbehalf',
  COGNITO_USER_POOL_ID: 'us-east-1_abc',
  COGNITO_CLIENT_ID: 'client',
  SCALEKIT_ENVIRONMENT_URL: 'https://env.scalekit.test/',
  SCALEKIT_CLIENT_ID: 'skc',
  SCALEKIT_CLIENT_SECRET: 'secret',
  ONBEHALF_DEFAULT_VERIFY_URL: 'http://127.0.0.1:8976/verify',
};

describe('loadConfig', () => {
  it('fills every lifetime and budget with its default', () => {
    // Act
    const config = loadConfig(minimal);
    // Assess
    expect(config).toMatchObject({
      SCALEKIT_ENVIRONMENT_URL: 'https://env.scalekit.test',
      ONBEHALF_CONNECTIONS: ['asana'],
      ONBEHALF_TOOL_POLICY: {},
      ONBEHALF_STATE_TTL_SECONDS: 600,
      ONBEHALF_TIME_BUDGET_MS: 25_000,
      ONBEHALF_MODEL_CALL_BUDGET: 20,
      ONBEHALF_MODEL_ID: 'claude-sonnet-4-6',
      ONBEHALF_CONVERSATION_TTL_DAYS: 90,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('allows every read and write tool of the catalog by default, and no delete', () => {
    expect(DEFAULT_TOOL_ALLOWLIST).toContain('asana_task_create');
    expect(DEFAULT_TOOL_ALLOWLIST).toContain('asana_project_tasks_list');
    expect(DEFAULT_TOOL_ALLOWLIST).not.toContain('asana_task_delete');
    expect(DEFAULT_TOOL_ALLOWLIST).toHaveLength(20);
  });

  it.each([
    ['TABLE_NAME', { TABLE_NAME: undefined }],
    ['ONBEHALF_TIME_BUDGET_MS', { ONBEHALF_TIME_BUDGET_MS: 'soon' }],
    ['ONBEHALF_TOOL_POLICY', { ONBEHALF_TOOL_POLICY: '{"asana_task_create":"maybe"}' }],
    ['ONBEHALF_TOOL_POLICY', { ONBEHALF_TOOL_POLICY: 'not json' }],
    ['SCALEKIT_ENVIRONMENT_URL', { SCALEKIT_ENVIRONMENT_URL: 'ftp://nope' }],
    ['SCALEKIT_SECRET_ARN', { SCALEKIT_CLIENT_SECRET: undefined }],
    ['ONBEHALF_CONVERSATION_TTL_DAYS', { ONBEHALF_CONVERSATION_TTL_DAYS: '0' }],
    ['ONBEHALF_CONVERSATION_TTL_DAYS', { ONBEHALF_CONVERSATION_TTL_DAYS: '1.5' }],
  ])('names %s when it is missing or malformed', (name, override) => {
    expect(() => loadConfig({ ...minimal, ...override })).toThrow(ConfigError);
    expect(() => loadConfig({ ...minimal, ...override })).toThrow(name);
  });

  it('parses lists and a tool policy', () => {
    const config = loadConfig({
      ...minimal,
      ONBEHALF_CONNECTIONS: 'asana, github',
      ONBEHALF_TOOL_POLICY: '{"asana_task_create":"confirm","asana_story_create":"deny"}',
    });
    expect(config.ONBEHALF_CONNECTIONS).toEqual(['asana', 'github']);
    expect(config.ONBEHALF_TOOL_POLICY).toEqual({ asana_task_create: 'confirm', asana_story_create: 'deny' });
  });
});

describe('parseWorld', () => {
  it('accepts the default world', () => {
    expect(parseWorld(world).people.map((person) => person.username)).toEqual(['alice', 'bob']);
  });

  it.each([
    ['people.0.email', (w: typeof world) => ({ ...w, people: [{ ...w.people[0], email: 'not-an-email' }] })],
    ['tasks.0.project', (w: typeof world) => ({ ...w, tasks: [{ ...w.tasks[0], project: '999' }] })],
    ['projects.1.members.0', (w: typeof world) => ({ ...w, projects: [w.projects[0], { ...w.projects[1], members: ['777'] }] })],
    ['workspace', (w: typeof world) => ({ ...w, workspace: undefined })],
  ])('names the field %s of a world that does not match', (field, mutate) => {
    expect(() => parseWorld(mutate(world), 'world.json')).toThrow(WorldFileError);
    expect(() => parseWorld(mutate(world), 'world.json')).toThrow(`"${field}"`);
  });
});

describe('checkDeadlines (docs/api.md, "Deadlines")', () => {
  const good = { timeBudgetMs: 25_000, streamTimeBudgetMs: 300_000, chatTimeoutSeconds: 330 };

  it('accepts the defaults and the limits themselves', () => {
    expect(checkDeadlines(good)).toEqual([]);
    expect(checkDeadlines({ timeBudgetMs: 26_000, streamTimeBudgetMs: 840_000, chatTimeoutSeconds: 900 })).toEqual([]);
    expect(chatTimeoutSecondsFor(300_000)).toBe(330);
    expect(chatTimeoutSecondsFor(840_500)).toBe(871);
  });

  it.each([
    ['ONBEHALF_TIME_BUDGET_MS', { timeBudgetMs: 26_001 }, 'must be at most 26000'],
    ['ONBEHALF_STREAM_TIME_BUDGET_MS', { streamTimeBudgetMs: 840_001, chatTimeoutSeconds: 900 }, 'must be at most 840000'],
    ['ONBEHALF_CHAT_TIMEOUT_SECONDS', { chatTimeoutSeconds: 329 }, 'must be at least the streaming budget plus 30 s (330'],
    ['ONBEHALF_CHAT_TIMEOUT_SECONDS', { chatTimeoutSeconds: 901 }, 'must be at most 900'],
  ])('names %s when it breaks its rule', (setting, override, message) => {
    const problems = checkDeadlines({ ...good, ...override });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toEqual({ setting, message: expect.stringContaining(message) });
  });

  it('reports every broken rule at once', () => {
    const problems = checkDeadlines({ timeBudgetMs: 30_000, streamTimeBudgetMs: 900_000, chatTimeoutSeconds: 60 });
    expect(problems.map((problem) => problem.setting)).toEqual([
      'ONBEHALF_TIME_BUDGET_MS',
      'ONBEHALF_STREAM_TIME_BUDGET_MS',
      'ONBEHALF_CHAT_TIMEOUT_SECONDS',
    ]);
  });
});
