import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startStack } from './stack';
import { loadWorld, WorldFileError } from './world';

// The local stack runs on Node 20 here; Lambda runs Node 22, so the SDK's Node 20 notice is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const stackFile = join(root, '.onbehalf', 'stack.json');

/** `npm start`: the one-machine stack, with `--port <n>` and `--memory` (`API.md`, "The local stack"). */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, memory: { type: 'boolean', default: false } },
    strict: true,
  });
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);

  rmSync(stackFile, { force: true });
  const world = loadWorld();
  const started = Date.now();
  const stack = await startStack({ world, port, dataDir: values.memory ? undefined : join(root, '.data') });
  const { facts } = stack;

  mkdirSync(dirname(stackFile), { recursive: true });
  const tmp = `${stackFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(facts, null, 2)}\n`);
  renameSync(tmp, stackFile);

  const lines = [
    `onbehalf local stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)${values.memory ? ' — in memory, nothing is kept' : ' — state kept in .data/'}`,
    ``,
    `  API (gateway)      ${facts.apiUrl}`,
    `  Cognito (local)    ${facts.cognito.endpoint}   pool ${facts.cognito.userPoolId}   client ${facts.cognito.clientId}   region ${facts.cognito.region}`,
    `  Scalekit           ${facts.scalekit.environmentUrl}   client ${facts.scalekit.clientId}`,
    `  Asana              ${facts.asanaUrl}`,
    `  Claude             ${facts.modelUrl}`,
    `  DynamoDB Local     ${facts.dynamodbUrl}   table ${facts.tableName}`,
    ``,
    `  Users (Cognito username / password):`,
    ...facts.users.map((user) => `    ${user.username.padEnd(12)} ${user.password.padEnd(16)} ${user.email}`),
    ``,
    `  Facts written to .onbehalf/stack.json. Ctrl-C stops everything.`,
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    rmSync(stackFile, { force: true });
    await stack.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  rmSync(stackFile, { force: true });
  console.error(error instanceof WorldFileError ? error.message : `npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
