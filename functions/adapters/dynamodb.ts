import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The DocumentClient for the table: in AWS from the function's role and region; on the local
 * stack from `DYNAMODB_ENDPOINT` with DynamoDB Local's dummy credentials.
 */
export function createDocumentClient(options: { region: string; endpoint?: string }): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** Keys of the one table (`docs/architecture.md`, "The table"): everything a user owns under `USER#<sub>`. */
export const keys = {
  user: (sub: string) => `USER#${sub}`,
  connection: (connection: string) => `CONN#${connection}`,
  state: (state: string) => `STATE#${state}`,
  conversation: (id: string) => `CONV#${id}`,
  message: (id: string, seq: number) => `MSG#${id}#${String(seq).padStart(8, '0')}`,
  messagePrefix: (id: string) => `MSG#${id}#`,
  tool: (id: string, toolUseId: string) => `TOOL#${id}#${toolUseId}`,
  toolPrefix: (id: string) => `TOOL#${id}#`,
  /** Counters of one UTC day (`2026-11-30`): its tokens and the requests of each of its minutes. */
  usage: (day: string) => `USAGE#${day}`,
} as const;

/** Whether an SDK error is a failed condition (a lost race or a precondition that does not hold). */
export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
