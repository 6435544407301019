import { CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  ClientAttributes,
  FeaturePlan,
  Mfa,
  UserPool,
  type IUserPool,
  type IUserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import { AttributeType, BillingMode, Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ANTHROPIC_PLACEHOLDER, SCALEKIT_PLACEHOLDER_CLIENT_ID } from '../../functions/secret-placeholders';
import type { Settings } from '../settings';
import { tableDefinition } from '../table';

/** What the api stack needs from the stateful stack. */
export interface StatefulResources {
  readonly table: ITable;
  readonly userPool: IUserPool;
  readonly userPoolClient: IUserPoolClient;
  /** JSON `{"clientId": …, "clientSecret": …}`: the Scalekit environment's API client. */
  readonly scalekitSecret: ISecret;
  /** The Anthropic API key as a plain string. */
  readonly anthropicSecret: ISecret;
}

export interface StatefulStackProps extends StackProps {
  readonly settings: Settings;
}

/**
 * What a signed-in user may change about themselves with their own access token
 * (`UpdateUserAttributes`): profile attributes only. Never `email` or `phone_number`: the email
 * is the recovery channel and what the account policy compares, so a stolen token must not be
 * able to change it (then reset the password).
 */
export const userWritableAttributes = new ClientAttributes().withStandardAttributes({
  fullname: true,
  givenName: true,
  familyName: true,
  middleName: true,
  nickname: true,
  preferredUsername: true,
  locale: true,
  timezone: true,
});

const ROTATION_REASON =
  'A third-party credential: it is issued and rotated at the provider (Scalekit dashboard / Anthropic console), ' +
  'then stored here with put-secret-value; Secrets Manager cannot rotate it.';

/**
 * Everything that holds state and outlives a redeploy: the one table (`infra/table.ts`, as the
 * local stack builds it), the Cognito user pool and its app client, and the two secrets. The
 * table and the pool are retained when the stack is deleted; the secrets' values are never in
 * the template: each starts as a placeholder the functions recognise (`functions/secret-placeholders.ts`),
 * the operator puts the real value, and no later deploy touches it.
 */
export class StatefulStack extends Stack {
  readonly resources: StatefulResources;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);

    const table = new Table(this, 'Table', {
      partitionKey: { name: tableDefinition.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableDefinition.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: tableDefinition.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const userPool = new UserPool(this, 'UserPool', {
      userPoolName: `${props.settings.stackPrefix}-users`,
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      // An email change takes effect only once the new address is verified; until then the
      // verified one stays (sign-in, recovery and the account policy keep using it).
      keepOriginal: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(userPool).acknowledge(
      {
        id: 'AwsSolutions-COG2',
        reason: 'MFA is optional by design (issue 11): each user may enrol a TOTP app; requiring it would lock out the CLI users.',
      },
      {
        id: 'AwsSolutions-COG8',
        reason:
          'Threat protection needs the Cognito Plus feature plan, a per-user cost left to each deployment; sign-up is closed ' +
          '(admin-created users only), passwords follow a strong policy and TOTP MFA is available.',
      },
    );

    const userPoolClient = userPool.addClient('Client', {
      userPoolClientName: `${props.settings.stackPrefix}-client`,
      authFlows: { userPassword: true, userSrp: true },
      generateSecret: false,
      disableOAuth: true,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      writeAttributes: userWritableAttributes,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });

    // Changing a secret's generated or literal value in the template makes CloudFormation replace
    // the stored value on the next deploy: these placeholders must never change.
    const scalekitSecret = new Secret(this, 'ScalekitCredentials', {
      description: 'onbehalf: Scalekit API client as JSON {"clientId": …, "clientSecret": …}; set with put-secret-value',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ clientId: SCALEKIT_PLACEHOLDER_CLIENT_ID }),
        generateStringKey: 'clientSecret',
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(scalekitSecret).acknowledge({ id: 'AwsSolutions-SMG4', reason: ROTATION_REASON });

    const anthropicSecret = new Secret(this, 'AnthropicApiKey', {
      description: 'onbehalf: the Anthropic API key as a plain string; set with put-secret-value',
      // A fixed marker, not a key: the functions recognise it and answer 503 instead of calling Anthropic.
      secretStringValue: SecretValue.unsafePlainText(ANTHROPIC_PLACEHOLDER),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(anthropicSecret).acknowledge({ id: 'AwsSolutions-SMG4', reason: ROTATION_REASON });

    this.resources = { table, userPool, userPoolClient, scalekitSecret, anthropicSecret };

    new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId, description: 'Cognito user pool id' });
    new CfnOutput(this, 'UserPoolClientId', {
      value: userPoolClient.userPoolClientId,
      description: 'Cognito app client id (USER_PASSWORD_AUTH and SRP)',
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'ScalekitSecretArn', {
      value: scalekitSecret.secretArn,
      description: 'Put {"clientId","clientSecret"} here with aws secretsmanager put-secret-value',
    });
    new CfnOutput(this, 'AnthropicSecretArn', {
      value: anthropicSecret.secretArn,
      description: 'Put the Anthropic API key here with aws secretsmanager put-secret-value',
    });
  }
}
