import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema, loadConfig } from '../../functions/config';
import { functionSpecs, type DeployedFunctionName } from '../../infra/stacks/function-specs';
import { routes, scheduledFunctions } from '../../infra/routes';
import { logicalId, resourcesOf, synthesize, type CfnResourceJson, type Synthesized } from './synth';

let synth: Synthesized;
const names = Object.keys(functionSpecs) as DeployedFunctionName[];

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

function functionResource(name: DeployedFunctionName): CfnResourceJson {
  const id = logicalId(synth.api, synth.api.functions[name].function);
  const resource = resourcesOf(synth.apiTemplate, 'AWS::Lambda::Function')[id];
  if (!resource) throw new Error(`no function ${name}`);
  return resource;
}

function environmentOf(name: DeployedFunctionName): Record<string, unknown> {
  return (functionResource(name).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

/** Every statement of every policy attached to the function's role. */
function statementsOf(name: DeployedFunctionName): Statement[] {
  const roleId = logicalId(synth.api, synth.api.functions[name].role);
  return Object.values(resourcesOf(synth.apiTemplate, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action])).sort();

/** A cross-stack reference (an output of the stateful stack) → the value that output publishes there. */
function resolved(value: unknown): unknown {
  const reference = (value as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })['Fn::GetStackOutput'];
  if (!reference) return value;
  expect(reference.StackName).toBe(synth.stateful.stackName);
  return synth.statefulTemplate.findOutputs(reference.OutputName)[reference.OutputName]?.Value;
}

const ref = (construct: Parameters<typeof logicalId>[1]) => ({ Ref: logicalId(synth.stateful, construct) });
const arn = (construct: Parameters<typeof logicalId>[1]) => ({ 'Fn::GetAtt': [logicalId(synth.stateful, construct), 'Arn'] });

beforeAll(() => {
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' } });
});

describe('functions', () => {
  it('deploys one function per route function and per scheduled function', () => {
    expect(names.sort()).toEqual([...new Set([...routes.map((route) => route.function), ...scheduledFunctions])].sort());
    synth.apiTemplate.resourceCountIs('AWS::Lambda::Function', names.length);
  });

  it.each(names)('%s runs nodejs24.x on arm64 with X-Ray tracing, JSON logs and its own log group with retention', (name) => {
    // Prepare
    const properties = functionResource(name).Properties;
    const logGroupId = logicalId(synth.api, synth.api.functions[name].logGroup);
    // Assess
    expect(properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroupId } },
      MemorySize: functionSpecs[name].memorySize,
      Timeout: functionSpecs[name].streams ? synth.settings.chatTimeoutSeconds : functionSpecs[name].timeout.toSeconds(),
    });
    expect(resourcesOf(synth.apiTemplate, 'AWS::Logs::LogGroup')[logGroupId]?.Properties.RetentionInDays).toBe(30);
  });

  it.each(names)('%s gets every setting under the names functions/config.ts reads, and config accepts them', (name) => {
    // Prepare
    const env = environmentOf(name);
    // Tokens (cross-stack references) become stand-in strings; literal settings stay as synthesized.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([key, value]) => [key, typeof value === 'string' ? value : `token-${key}`]),
    );
    // Act
    const config = loadConfig(resolved);
    // Assess
    expect(config.SCALEKIT_ENVIRONMENT_URL).toBe('https://acme.scalekit.dev');
    expect(config.ONBEHALF_CONNECTIONS).toEqual(['asana']);
    expect(config.ONBEHALF_DEFAULT_VERIFY_URL).toBe('http://127.0.0.1:8976/verify');
    expect(env).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: name,
      POWERTOOLS_METRICS_NAMESPACE: 'onbehalf',
    });
    for (const key of Object.keys(env)) {
      const known = key in configSchema.shape || key === 'NODE_OPTIONS' || key.startsWith('POWERTOOLS_');
      expect(known, `${key} is read by nobody`).toBe(true);
    }
  });

  it.each(names)('%s is wired to the table, user pool and its secrets by reference', (name) => {
    // Prepare
    const env = environmentOf(name);
    const { table, userPool, userPoolClient, scalekitSecret, anthropicSecret } = synth.stateful.resources;
    // Assess
    expect(resolved(env.TABLE_NAME)).toEqual(ref(table));
    expect(resolved(env.COGNITO_USER_POOL_ID)).toEqual(ref(userPool));
    expect(resolved(env.COGNITO_CLIENT_ID)).toEqual(ref(userPoolClient));
    expect(resolved(env.SCALEKIT_SECRET_ARN)).toEqual(ref(scalekitSecret));
    if (name === 'chat') expect(resolved(env.ANTHROPIC_SECRET_ARN)).toEqual(ref(anthropicSecret));
    else expect(env).not.toHaveProperty('ANTHROPIC_SECRET_ARN');
  });

  it('puts no secret value in any environment variable', () => {
    for (const name of names) {
      const env = environmentOf(name);
      const serialized = JSON.stringify(env);
      expect(serialized).not.toMatch(/resolve:secretsmanager|SecretString|GenerateSecretString/i);
      for (const forbidden of ['SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET', 'ANTHROPIC_API_KEY']) {
        expect(env, `${name} ${forbidden}`).not.toHaveProperty(forbidden);
      }
      for (const [key, value] of Object.entries(env)) {
        if (key.endsWith('_SECRET_ARN')) expect(typeof value, key).toBe('object');
      }
    }
  });
});

describe('IAM: exactly what each function uses', () => {
  const expected: Record<DeployedFunctionName, string[]> = {
    connect: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    verify: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    chat: [
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ],
    'connection-status': ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'],
  };

  it.each(names)('%s: its table actions on the table’s ARN only', (name) => {
    // Prepare
    const statements = statementsOf(name).filter((statement) => actionsOf([statement]).some((action) => action.startsWith('dynamodb:')));
    // Assess
    expect(actionsOf(statements)).toEqual(expected[name]);
    for (const statement of statements) {
      expect(statement.Effect).toBe('Allow');
      expect(resolved(statement.Resource)).toEqual(arn(synth.stateful.resources.table));
    }
  });

  it.each(names)('%s: GetSecretValue on exactly its secrets', (name) => {
    // Prepare
    const statements = statementsOf(name).filter((statement) =>
      actionsOf([statement]).some((action) => action.startsWith('secretsmanager:')),
    );
    const { scalekitSecret, anthropicSecret } = synth.stateful.resources;
    const secretRefs = [scalekitSecret, ...(name === 'chat' ? [anthropicSecret] : [])].map((secret) => JSON.stringify(ref(secret)));
    // Assess
    expect(actionsOf(statements)).toEqual(statements.map(() => 'secretsmanager:GetSecretValue'));
    const resources = statements.flatMap((statement) => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]));
    expect(resources.map((resource) => JSON.stringify(resolved(resource))).sort()).toEqual(secretRefs.sort());
  });

  it.each(names)('%s: nothing else but its own log group and X-Ray, no wildcard action, no managed policy', (name) => {
    // Prepare
    const statements = statementsOf(name);
    const logGroupId = logicalId(synth.api, synth.api.functions[name].logGroup);
    const roleId = logicalId(synth.api, synth.api.functions[name].role);
    const role = resourcesOf(synth.apiTemplate, 'AWS::IAM::Role')[roleId];
    // Assess
    expect(actionsOf(statements)).toEqual(
      [
        ...expected[name],
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'secretsmanager:GetSecretValue',
        // A run that fails after Lambda's retries goes to the schedule's dead-letter queue.
        ...(name === 'connection-status' ? ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'] : []),
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
    for (const statement of statements) {
      const actions = actionsOf([statement]);
      expect(actions.every((action) => !action.includes('*'))).toBe(true);
      if (actions.some((action) => action.startsWith('logs:'))) {
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
      }
      if (actions.some((action) => action.startsWith('sqs:'))) {
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ConnectionStatusDeadLetters/), 'Arn'] });
      }
      if (statement.Resource === '*') expect(actions.every((action) => action.startsWith('xray:'))).toBe(true);
    }
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role?.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
    });
  });
});
