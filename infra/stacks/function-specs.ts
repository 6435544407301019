import { Duration } from 'aws-cdk-lib';
import type { SecretEnvName, TableAction } from '../constructs/onbehalf-function';
import type { FunctionName, scheduledFunctions } from '../routes';

export type DeployedFunctionName = FunctionName | (typeof scheduledFunctions)[number];

export interface FunctionSpec {
  readonly description: string;
  readonly memorySize: number;
  /** A streaming function (`streams`) takes its timeout from the settings (`chatTimeoutSeconds`) instead. */
  readonly timeout: Duration;
  /**
   * Its routes stream (`responseTransferMode: STREAM`, handler wrapped with `streamifyResponse`):
   * not bound by API Gateway's 29 s, only by the function's timeout.
   */
  readonly streams?: boolean;
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
 * and its environment variable follow. Buffered functions' timeouts outlast API Gateway's 29 s so
 * a call that overshoots still finishes its writes; the chat function streams, and its timeout
 * follows the streaming budget (`docs/api.md`, "Deadlines").
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
    // Replaced by the settings' chatTimeoutSeconds (the streaming budget plus 30 s).
    timeout: Duration.seconds(60),
    streams: true,
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
