import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalSettingsError, localDeadlines, startStack } from './stack';
import { loadWorld, type World, WorldFileError } from './world';

// The local stack runs on Node 20 here; Lambda runs Node 24, so the SDK's Node 20 notice is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const stackFile = join(root, '.onbehalf', 'stack.json');

/** `npm start`: the one-machine stack, with `--port <n>` and `--memory` (`docs/api.md`, "The local stack"). */
async function main(): Promise<void> {
  // First of all: settings that break the deadline rules stop the start (and touch nothing).
  localDeadlines(process.env);
  const { values } = parseArgs({
    options: { port: { type: 'string' }, memory: { type: 'boolean', default: false } },
    strict: true,
  });
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);

  rmSync(stackFile, { force: true });
  const world = loadWorld();
  const dataDir = values.memory ? undefined : join(root, '.data');
  if (dataDir) keepDataForWorld(dataDir, world);
  const started = Date.now();
  const stack = await startStack({ world, port, dataDir });
  const { facts } = stack;

  mkdirSync(dirname(stackFile), { recursive: true });
  const tmp = `${stackFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(facts, null, 2)}\n`);
  renameSync(tmp, stackFile);

  const lines = [
    `onbehalf local stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)${values.memory ? ' — in memory, nothing is kept' : ' — state kept in .data/'}`,
    ``,
    `  Web console        ${facts.consoleUrl}   (sign in with a user below)`,
    `  API (gateway)      ${facts.apiUrl}`,
    `  Cognito (local)    ${facts.cognito.endpoint}   pool ${facts.cognito.userPoolId}   client ${facts.cognito.clientId}   region ${facts.cognito.region}`,
    `  Managed login      ${facts.cognito.domain}   web client ${facts.cognito.webClientId}`,
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

/**
 * State kept under `.data/` belongs to one world: another world's users, accounts and tokens would
 * only half-match it, so a changed world starts from empty state (and says so).
 */
function keepDataForWorld(dataDir: string, world: World): void {
  const fingerprint = createHash('sha256').update(JSON.stringify(world)).digest('hex');
  const file = join(dataDir, 'world.sha256');
  let previous: string | undefined;
  try {
    previous = readFileSync(file, 'utf8').trim();
  } catch {
    previous = undefined;
  }
  if (previous !== undefined && previous !== fingerprint) {
    console.log('The world file changed since the state in .data/ was made: starting from empty state.');
    rmSync(dataDir, { recursive: true, force: true });
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${fingerprint}\n`);
}

main().catch((error: unknown) => {
  if (!(error instanceof LocalSettingsError)) rmSync(stackFile, { force: true });
  console.error(
    error instanceof WorldFileError
      ? error.message
      : error instanceof LocalSettingsError
        ? `npm start: invalid settings: ${error.message}`
        : `npm start failed: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
