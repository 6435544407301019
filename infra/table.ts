/**
 * The one DynamoDB table (`docs/architecture.md`, "The table"), defined once: the CDK stateful
 * stack and the local stack both build it from these facts.
 */
export const tableDefinition = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
} as const;

/** The table's name on the local stack (a deployment lets CloudFormation name it). */
export const LOCAL_TABLE_NAME = 'onbehalf';

/** The CreateTable input for DynamoDB Local: same keys as the CDK table, on-demand billing. */
export function createTableInput(tableName: string) {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: tableDefinition.partitionKey, AttributeType: 'S' as const },
      { AttributeName: tableDefinition.sortKey, AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: tableDefinition.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: tableDefinition.sortKey, KeyType: 'RANGE' as const },
    ],
  };
}
