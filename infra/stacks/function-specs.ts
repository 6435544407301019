import { Duration } from 'aws-cdk-lib';
import type { SecretEnvName, TableAction } from '../constructs/onbehalf-function';
import type { FunctionName, scheduledFunctions } from '../routes';

export type DeployedFunctionName = FunctionName | (typeof scheduledFunctions)[number];

export interface FunctionSpec {
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /**
   * Exactly the table actions the function's adapters call. `TransactWriteItems` is no IAM
   * action: a transaction needs the item-level action of each of its parts (`PutItem`,
   * `UpdateItem`, `DeleteItem`, `ConditionCheckItem`).
   */
  readonly tableActions: readonly TableAction[];
  /** The secrets it reads at cold start, by the environment variable that carries the ARN. */
  readonly secrets: readonly SecretEnvName[];
}

/**
 * What each function may do, in one place, matching the calls its adapters make today
 * (`functions/adapters/*-store.ts`): a new DynamoDB call needs its action here, and the grant
 * and its environment variable follow. Timeouts outlast API Gateway's 29 s so a
 * run that overshoots still finishes its writes (the client gets `504 upstream_timeout` and may
 * resume); the chat time budget (`timeBudgetMs`) is what ends runs in time.
 */
export const functionSpecs: Readonly<Record<DeployedFunctionName, FunctionSpec>> = {
  connect: {
    description: 'Lists, starts and deletes the caller’s Scalekit connected accounts',
    memorySize: 512,
    timeout: Duration.seconds(30),
    // Registry entries (read, record, delete on disconnect) and link states.
    tableActions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
    secrets: ['SCALEKIT_SECRET_ARN'],
  },
  verify: {
    description: 'Completes Scalekit user verification for the caller’s own authorization link',
    memorySize: 512,
    timeout: Duration.seconds(30),
    // Claims, completes or releases the link state (updates) and writes the registry entry.
    tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
    secrets: ['SCALEKIT_SECRET_ARN'],
  },
  chat: {
    description: 'Runs the Claude tool loop for the caller, executing tools through Scalekit as the caller',
    memorySize: 1024,
    timeout: Duration.seconds(60),
    // Conversations (transactions of Put/Update/Delete, batch reads and deletes, queries of
    // messages and tool records) and, for fresh authorization links, the connection registry.
    tableActions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'BatchGetItem', 'BatchWriteItem'],
    secrets: ['SCALEKIT_SECRET_ARN', 'ANTHROPIC_SECRET_ARN'],
  },
  'connection-status': {
    description: 'Scheduled: refreshes the connection registry from Scalekit',
    memorySize: 512,
    timeout: Duration.minutes(5),
    // Reads a page of registry entries at once, then records each status that moved.
    tableActions: ['BatchGetItem', 'UpdateItem'],
    secrets: ['SCALEKIT_SECRET_ARN'],
  },
};
