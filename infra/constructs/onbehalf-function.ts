import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { IUserPool, IUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../functions/metric-names';

/** The repository root: entries, the lock file and esbuild are resolved from here, whatever the cwd. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The DynamoDB item actions a function may be granted (never `dynamodb:*`). */
export type TableAction =
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchGetItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

/** The environment variables through which `functions/config.ts` receives a secret's ARN. */
export type SecretEnvName = 'SCALEKIT_SECRET_ARN' | 'ANTHROPIC_SECRET_ARN';

export interface OnbehalfFunctionProps {
  /** The function's folder: the entry is `functions/<name>/handler.ts`, exporting `handler`. */
  readonly name: string;
  readonly description: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  readonly logRetention: RetentionDays;
  /** Settings from `functions/config.ts`; never a secret value (secrets go through {@link OnbehalfFunction.grantSecret}). */
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * A Lambda function with onbehalf's defaults: `nodejs24.x` on arm64; the handler bundled by
 * the local esbuild (no Docker) into one minified CJS file with source maps, AWS SDK included
 * (the tested bundle is the deployed bundle) and only the modules the function imports; its
 * own log group with retention; X-Ray tracing; its own role that may write only to that log
 * group until a `grant…` method adds exactly what the function uses. Each `grant…` also sets
 * the environment variable the function reads, so permissions and wiring cannot drift apart.
 */
export class OnbehalfFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: OnbehalfFunctionProps) {
    super(scope, id);
    const entry = join(PROJECT_ROOT, 'functions', props.name, 'handler.ts');
    if (!existsSync(entry)) throw new Error(`OnbehalfFunction ${props.name}: no entry at ${entry}`);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `onbehalf ${props.name} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        // The bundle targets the runtime, not the Node that builds it.
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: [],
      },
      environment: {
        ...props.environment,
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
    });

    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions. ' +
        'Every other statement of this role names its log group, table or secret.',
    });
  }

  /** Allows exactly `actions` on the table (no index, no wildcard) and sets `TABLE_NAME`. */
  grantTable(table: ITable, actions: readonly TableAction[]): void {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: actions.map((action) => `dynamodb:${action}`),
        resources: [table.tableArn],
      }),
    );
    this.function.addEnvironment('TABLE_NAME', table.tableName);
  }

  /** Allows reading this one secret's value and passes its ARN (never its value) as `envName`. */
  grantSecret(secret: ISecret, envName: SecretEnvName): void {
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
    secret.encryptionKey?.grantDecrypt(this.role);
    this.function.addEnvironment(envName, secret.secretArn);
  }

  /**
   * Passes the user pool and the app clients whose access tokens the function verifies: the
   * native client, and the web console's when there is one (reading JWKS needs no IAM).
   */
  verifyTokensFrom(userPool: IUserPool, client: IUserPoolClient, webClient?: IUserPoolClient): void {
    this.function.addEnvironment('COGNITO_USER_POOL_ID', userPool.userPoolId);
    this.function.addEnvironment('COGNITO_CLIENT_ID', client.userPoolClientId);
    if (webClient) this.function.addEnvironment('COGNITO_WEB_CLIENT_ID', webClient.userPoolClientId);
  }
}
