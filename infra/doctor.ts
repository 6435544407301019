/**
 * `npm run doctor`: checks a configuration before its users find out. One line per check, PASS or
 * FAIL with the fix; the exit code is 1 when anything failed.
 *
 *   npm run doctor                                  # the local stack (.onbehalf/stack.json)
 *   npm run doctor -- --stack-file <stack.json>     # another local stack file
 *   npm run doctor -- --stack Onbehalf              # a deployment: outputs from cdk-outputs.json
 *                                                   # (cdk deploy --all --outputs-file cdk-outputs.json),
 *                                                   # secrets from Secrets Manager (needs credentials)
 *   … --connections asana,jira --model-id <id>     # what to check (default: the settings)
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ScalekitClient } from '@scalekit-sdk/node';
import { ANTHROPIC_PLACEHOLDER, isScalekitPlaceholder } from '../functions/secret-placeholders';

/** Everything the checks need, from a local stack file or a deployment's outputs and secrets. */
export interface DoctorTarget {
  readonly label: string;
  readonly apiUrl: string;
  readonly cognito: { readonly endpoint?: string; readonly region: string; readonly clientId: string };
  readonly scalekit: { readonly environmentUrl: string; readonly clientId: string; readonly clientSecret: string };
  readonly anthropic: { readonly apiKey: string; readonly baseURL?: string; readonly modelId: string };
  readonly connections: readonly string[];
  /** Where the browser lands after consent by default; `undefined` when a local stack serves its own page. */
  readonly verifyUrl: string;
  /** Problems found while reading the target (a missing or placeholder secret): reported as failed checks. */
  readonly problems?: readonly CheckResult[];
}

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do about a failure. */
  readonly fix?: string;
}

const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, ok: false, detail, fix });
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);

/** Runs every check against `target`, in order; never throws. */
export async function runDoctor(target: DoctorTarget): Promise<CheckResult[]> {
  const results: CheckResult[] = [...(target.problems ?? [])];
  const failedEarly = new Set(results.filter((result) => !result.ok).map((result) => result.name));
  results.push(await checkApi(target));
  results.push(await checkCognito(target));
  if (!failedEarly.has('Scalekit secret')) {
    const credentials = await checkScalekitCredentials(target);
    results.push(credentials);
    if (credentials.ok) for (const connection of target.connections) results.push(await checkConnection(target, connection));
  }
  if (!failedEarly.has('Anthropic secret')) results.push(await checkModel(target));
  results.push(await checkVerifyUrl(target));
  return results;
}

async function checkApi(target: DoctorTarget): Promise<CheckResult> {
  const name = 'API reachable';
  try {
    const response = await fetch(`${target.apiUrl}/connections`, { signal: AbortSignal.timeout(10_000) });
    if (response.status === 401) return pass(name, `${target.apiUrl} answers and requires a token`);
    return fail(
      name,
      `${target.apiUrl}/connections without a token answered ${response.status}, not 401`,
      'check the API URL and its Cognito authorizer',
    );
  } catch (error) {
    return fail(
      name,
      `${target.apiUrl}: ${messageOf(error)}`,
      'check the API URL (stack output ApiUrl), or start the local stack with npm start',
    );
  }
}

async function checkCognito(target: DoctorTarget): Promise<CheckResult> {
  const name = 'Cognito sign-in';
  const client = new CognitoIdentityProviderClient({
    region: target.cognito.region,
    ...(target.cognito.endpoint
      ? { endpoint: target.cognito.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
    maxAttempts: 1,
  });
  try {
    // A made-up user: the answer says whether the client exists and allows USER_PASSWORD_AUTH, and signs nobody in.
    await client.send(
      new InitiateAuthCommand({
        ClientId: target.cognito.clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: `onbehalf-doctor-${randomBytes(4).toString('hex')}`, PASSWORD: randomBytes(12).toString('base64url') },
      }),
    );
    return fail(name, 'a made-up user was signed in', 'check the app client: it must not accept unknown users');
  } catch (error) {
    const errorName = error instanceof Error ? error.name : '';
    if (errorName === 'NotAuthorizedException' || errorName === 'UserNotFoundException') {
      return pass(name, `app client ${target.cognito.clientId} accepts USER_PASSWORD_AUTH`);
    }
    return fail(
      name,
      `app client ${target.cognito.clientId}: ${errorName || 'error'}: ${messageOf(error)}`,
      'use the stack output UserPoolClientId; the client must allow USER_PASSWORD_AUTH and have no secret',
    );
  } finally {
    client.destroy();
  }
}

async function checkScalekitCredentials(target: DoctorTarget): Promise<CheckResult> {
  const name = 'Scalekit credentials';
  try {
    const response = await fetch(`${target.scalekit.environmentUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: target.scalekit.clientId,
        client_secret: target.scalekit.clientSecret,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    if (response.ok) return pass(name, `${target.scalekit.environmentUrl} accepted client ${target.scalekit.clientId}`);
    return fail(
      name,
      `${target.scalekit.environmentUrl} refused client ${target.scalekit.clientId} (HTTP ${response.status})`,
      'store the API client id and secret of this Scalekit environment (Dashboard › Developers › API Credentials) in the Scalekit secret',
    );
  } catch (error) {
    return fail(name, `${target.scalekit.environmentUrl}: ${messageOf(error)}`, 'check scalekitEnvironmentUrl (cdk.context.json)');
  }
}

async function checkConnection(target: DoctorTarget, connection: string): Promise<CheckResult> {
  const name = `connection "${connection}"`;
  const client = new ScalekitClient(target.scalekit.environmentUrl, target.scalekit.clientId, target.scalekit.clientSecret);
  try {
    const accounts = await client.actions.listConnectedAccounts({ connectionName: connection, pageSize: 1 });
    const first = accounts.connectedAccounts?.[0];
    if (!first?.identifier) return pass(name, 'exists; no account linked yet, so no tools to list');
    const tools = await client.tools.listScopedTools(first.identifier, { filter: { connectionNames: [connection] }, pageSize: 100 });
    return pass(name, `exists and lists ${tools.tools.length} tools for a linked account`);
  } catch (error) {
    return fail(
      name,
      messageOf(error),
      `create a connection named "${connection}" in Scalekit (AgentKit › Connections), or remove it from the connections setting`,
    );
  }
}

async function checkModel(target: DoctorTarget): Promise<CheckResult> {
  const name = 'Anthropic key and model';
  const client = new Anthropic({ apiKey: target.anthropic.apiKey, baseURL: target.anthropic.baseURL, maxRetries: 0, timeout: 10_000 });
  try {
    // Counting tokens is free and checks both the key and the model name.
    await client.messages.countTokens({ model: target.anthropic.modelId, messages: [{ role: 'user', content: 'ping' }] });
    return pass(name, `the key is accepted and ${target.anthropic.modelId} is available`);
  } catch (error) {
    const status = error instanceof Anthropic.APIError ? error.status : undefined;
    if (status === 401 || status === 403)
      return fail(name, `the key was refused (HTTP ${status})`, 'store a valid Anthropic API key in the Anthropic secret');
    if (status === 404) return fail(name, `model ${target.anthropic.modelId} not found`, 'set modelId to a model your key can use');
    return fail(
      name,
      `Claude could not be reached: ${messageOf(error)}`,
      'check the network path to the Anthropic API (or the local model stand-in)',
    );
  }
}

async function checkVerifyUrl(target: DoctorTarget): Promise<CheckResult> {
  const name = 'verify URL';
  const url = new URL(target.verifyUrl);
  if (url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost') && !target.label.startsWith('local')) {
    return pass(
      name,
      `${target.verifyUrl} is a loopback page the client serves (register it in Scalekit if your environment keeps a list)`,
    );
  }
  try {
    const response = await fetch(target.verifyUrl, { signal: AbortSignal.timeout(10_000) });
    if (response.status < 500) return pass(name, `${target.verifyUrl} answers (HTTP ${response.status})`);
    return fail(name, `${target.verifyUrl} answered ${response.status}`, 'serve the verify page there, or change defaultVerifyUrl');
  } catch (error) {
    return fail(name, `${target.verifyUrl}: ${messageOf(error)}`, 'serve the verify page there, or change defaultVerifyUrl');
  }
}

/** The local stack as `npm start` describes it in `stack.json`. */
export function localTarget(
  stack: {
    apiUrl: string;
    cognito: { endpoint: string; region: string; clientId: string };
    scalekit: { environmentUrl: string; clientId: string; clientSecret: string };
    modelUrl: string;
    consoleUrl: string;
  },
  options: { connections?: readonly string[]; modelId?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): DoctorTarget {
  const env = options.env ?? process.env;
  const useAnthropic = env.ONBEHALF_MODEL === 'anthropic';
  return {
    label: 'local stack',
    apiUrl: stack.apiUrl,
    cognito: stack.cognito,
    scalekit: stack.scalekit,
    anthropic: {
      apiKey: useAnthropic ? (env.ANTHROPIC_API_KEY ?? '') : 'local-stand-in-key',
      baseURL: useAnthropic ? undefined : stack.modelUrl,
      modelId: options.modelId ?? env.ONBEHALF_MODEL_ID ?? 'claude-sonnet-4-6',
    },
    connections: options.connections ?? listOf(env.ONBEHALF_CONNECTIONS) ?? ['asana'],
    // Locally the default verify URL is the console's verify page, as `npm start` sets it.
    verifyUrl: env.ONBEHALF_DEFAULT_VERIFY_URL ?? `${stack.consoleUrl}/connections/verify`,
  };
}

const listOf = (value: string | undefined): string[] | undefined => {
  const items = value
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  return items && items.length > 0 ? items : undefined;
};

/** A deployment: its stacks' outputs (`cdk deploy --outputs-file`), its settings (`cdk.context.json`) and its secrets. */
async function deployedTarget(
  prefix: string,
  outputsFile: string,
  options: { connections?: string[]; modelId?: string },
): Promise<DoctorTarget> {
  if (!existsSync(outputsFile)) {
    throw new Error(
      `${outputsFile} not found: deploy with  npx cdk deploy --all --outputs-file ${outputsFile}  (or pass --outputs <file>)`,
    );
  }
  const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>;
  const api = outputs[`${prefix}-Api`] ?? {};
  const stateful = outputs[`${prefix}-Stateful`] ?? {};
  const need = (stack: Record<string, string>, key: string) => {
    const value = stack[key];
    if (!value) throw new Error(`${outputsFile} has no output ${key} for ${prefix}: deploy both stacks with --outputs-file`);
    return value;
  };
  const contextFile = join(process.cwd(), 'cdk.context.json');
  const context = existsSync(contextFile) ? (JSON.parse(readFileSync(contextFile, 'utf8')) as Record<string, unknown>) : {};
  const region = need(stateful, 'UserPoolId').split('_')[0]!;
  const problems: CheckResult[] = [];
  const secrets = new SecretsManagerClient({ region });
  const read = async (arn: string, label: string): Promise<string | undefined> => {
    try {
      return (await secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (error) {
      problems.push(
        fail(
          label,
          `cannot read ${arn}: ${messageOf(error)}`,
          'run with credentials that may read the secret (secretsmanager:GetSecretValue)',
        ),
      );
      return undefined;
    }
  };
  const scalekitText = await read(need(stateful, 'ScalekitSecretArn'), 'Scalekit secret');
  let scalekit = { clientId: '', clientSecret: '' };
  if (scalekitText !== undefined) {
    try {
      const parsed = JSON.parse(scalekitText) as { clientId?: unknown; clientSecret?: unknown };
      scalekit = { clientId: String(parsed.clientId ?? ''), clientSecret: String(parsed.clientSecret ?? '') };
      if (isScalekitPlaceholder(scalekit.clientId)) {
        problems.push(
          fail(
            'Scalekit secret',
            'still holds the placeholder',
            'put {"clientId","clientSecret"} with aws secretsmanager put-secret-value (docs/deploy.md, step 5)',
          ),
        );
      } else problems.push(pass('Scalekit secret', 'present'));
    } catch {
      problems.push(fail('Scalekit secret', 'is not JSON', 'put {"clientId": …, "clientSecret": …} (docs/deploy.md, step 5)'));
    }
  }
  const anthropicKey = await read(need(stateful, 'AnthropicSecretArn'), 'Anthropic secret');
  if (anthropicKey !== undefined) {
    if (anthropicKey === ANTHROPIC_PLACEHOLDER) {
      problems.push(
        fail(
          'Anthropic secret',
          'still holds the placeholder',
          'put the Anthropic API key with aws secretsmanager put-secret-value (docs/deploy.md, step 5)',
        ),
      );
    } else problems.push(pass('Anthropic secret', 'present'));
  }
  secrets.destroy();
  return {
    label: `deployment ${prefix}`,
    apiUrl: need(api, 'ApiUrl'),
    cognito: { region, clientId: need(stateful, 'UserPoolClientId') },
    scalekit: { environmentUrl: String(context.scalekitEnvironmentUrl ?? ''), ...scalekit },
    anthropic: { apiKey: anthropicKey ?? '', modelId: options.modelId ?? String(context.modelId ?? 'claude-sonnet-4-6') },
    connections:
      options.connections ??
      (Array.isArray(context.connections)
        ? context.connections.map(String)
        : (listOf(context.connections as string | undefined) ?? ['asana'])),
    verifyUrl: String(context.defaultVerifyUrl ?? 'http://127.0.0.1:8976/verify'),
    problems,
  };
}

/** One line per check. */
export function formatResults(target: DoctorTarget, results: readonly CheckResult[]): string {
  const lines = results.map((result) =>
    result.ok ? `PASS  ${result.name}: ${result.detail}` : `FAIL  ${result.name}: ${result.detail}. Fix: ${result.fix ?? ''}`,
  );
  const failed = results.filter((result) => !result.ok).length;
  return [`onbehalf doctor: ${target.label}`, ...lines, failed === 0 ? 'all checks passed' : `${failed} check(s) failed`].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'stack-file': { type: 'string' },
      stack: { type: 'string' },
      outputs: { type: 'string' },
      connections: { type: 'string' },
      'model-id': { type: 'string' },
    },
  });
  const options = { connections: listOf(values.connections), modelId: values['model-id'] };
  let target: DoctorTarget;
  try {
    if (values.stack) {
      target = await deployedTarget(values.stack, values.outputs ?? 'cdk-outputs.json', options);
    } else {
      const file = values['stack-file'] ?? join('.onbehalf', 'stack.json');
      if (!existsSync(file))
        throw new Error(`${file} not found: start the local stack with npm start, or pass --stack <prefix> for a deployment`);
      target = localTarget(JSON.parse(readFileSync(file, 'utf8')), options);
    }
  } catch (error) {
    console.log(`FAIL  configuration: ${messageOf(error)}`);
    return 1;
  }
  const results = await runDoctor(target);
  console.log(formatResults(target, results));
  return results.every((result) => result.ok) ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
