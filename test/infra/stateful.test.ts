import { ANTHROPIC_PLACEHOLDER, isAnthropicPlaceholder, SCALEKIT_PLACEHOLDER_CLIENT_ID } from '../../functions/secret-placeholders';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTableInput, tableDefinition } from '../../infra/table';
import { logicalId, resourcesOf, synthesize, type Synthesized } from './synth';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' } });
});

describe('table', () => {
  it('has the keys and TTL attribute of infra/table.ts, the same the local stack creates', () => {
    // Prepare
    const local = createTableInput('local');
    // Assess
    synth.statefulTemplate.resourceCountIs('AWS::DynamoDB::Table', 1);
    synth.statefulTemplate.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: local.KeySchema,
      AttributeDefinitions: local.AttributeDefinitions,
      BillingMode: local.BillingMode,
      TimeToLiveSpecification: { AttributeName: tableDefinition.ttlAttribute, Enabled: true },
      GlobalSecondaryIndexes: Match.absent(),
    });
  });

  it('is on-demand with point-in-time recovery, deletion protection and retained on delete', () => {
    synth.statefulTemplate.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });
});

describe('user pool', () => {
  it('signs in by username or email, with a strong password policy and optional TOTP MFA, retained', () => {
    synth.statefulTemplate.resourceCountIs('AWS::Cognito::UserPool', 1);
    synth.statefulTemplate.hasResource('AWS::Cognito::UserPool', {
      Properties: Match.objectLike({
        AliasAttributes: ['email'],
        UsernameAttributes: Match.absent(),
        UsernameConfiguration: { CaseSensitive: false },
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        Policies: {
          PasswordPolicy: {
            MinimumLength: 12,
            RequireLowercase: true,
            RequireUppercase: true,
            RequireNumbers: true,
            RequireSymbols: true,
            TemporaryPasswordValidityDays: 3,
          },
        },
        MfaConfiguration: 'OPTIONAL',
        EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
        DeletionProtection: 'ACTIVE',
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('has one public app client allowing USER_PASSWORD_AUTH and SRP, without OAuth flows', () => {
    synth.statefulTemplate.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    synth.statefulTemplate.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      UserPoolId: { Ref: logicalId(synth.stateful, synth.stateful.resources.userPool) },
      ExplicitAuthFlows: Match.arrayEquals(['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH']),
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: false,
      AllowedOAuthFlows: Match.absent(),
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
    });
  });
});

describe('email cannot be changed with a stolen token', () => {
  it('keeps the verified email until a new one is verified (keepOriginal)', () => {
    synth.statefulTemplate.hasResourceProperties('AWS::Cognito::UserPool', {
      AutoVerifiedAttributes: ['email'],
      UserAttributeUpdateSettings: { AttributesRequireVerificationBeforeUpdate: ['email'] },
    });
  });

  it('lets no app client write email or phone_number: a token holder cannot redirect recovery', () => {
    // Prepare
    const clients = Object.values(resourcesOf(synth.statefulTemplate, 'AWS::Cognito::UserPoolClient'));
    // Assess
    expect(clients.length).toBeGreaterThan(0);
    for (const client of clients) {
      const writable = client.Properties.WriteAttributes as unknown;
      // Absent would mean "every standard attribute", email included.
      expect(Array.isArray(writable)).toBe(true);
      expect(writable).not.toContain('email');
      expect(writable).not.toContain('phone_number');
      expect(writable).toEqual(expect.arrayContaining(['name', 'locale']));
    }
  });
});

describe('secrets', () => {
  it('holds the Scalekit credentials and the Anthropic key as placeholders the functions recognise, never a value', () => {
    // Prepare
    const secrets = resourcesOf(synth.statefulTemplate, 'AWS::SecretsManager::Secret');
    const { scalekitSecret, anthropicSecret } = synth.stateful.resources;
    const scalekit = secrets[logicalId(synth.stateful, scalekitSecret)]?.Properties;
    const anthropic = secrets[logicalId(synth.stateful, anthropicSecret)]?.Properties;
    // Assess
    expect(Object.keys(secrets)).toHaveLength(2);
    // Exactly the template every deployment has had: a changed GenerateSecretString or SecretString
    // would make CloudFormation replace the value an operator stored.
    expect(scalekit?.SecretString).toBeUndefined();
    expect(scalekit?.GenerateSecretString).toEqual({
      SecretStringTemplate: JSON.stringify({ clientId: SCALEKIT_PLACEHOLDER_CLIENT_ID }),
      GenerateStringKey: 'clientSecret',
    });
    expect(SCALEKIT_PLACEHOLDER_CLIENT_ID).toBe('set-with-put-secret-value');
    expect(anthropic?.GenerateSecretString).toBeUndefined();
    expect(anthropic?.SecretString).toBe(ANTHROPIC_PLACEHOLDER);
    expect(isAnthropicPlaceholder(String(anthropic?.SecretString))).toBe(true);
  });
});

describe('outputs', () => {
  it('names the user pool, the app client, the table and both secrets', () => {
    // Prepare
    const outputs = synth.statefulTemplate.findOutputs('*');
    const { table, userPool, userPoolClient, scalekitSecret, anthropicSecret } = synth.stateful.resources;
    const ref = (construct: Parameters<typeof logicalId>[1]) => ({ Ref: logicalId(synth.stateful, construct) });
    // Assess
    expect(outputs.UserPoolId?.Value).toEqual(ref(userPool));
    expect(outputs.UserPoolClientId?.Value).toEqual(ref(userPoolClient));
    expect(outputs.TableName?.Value).toEqual(ref(table));
    expect(outputs.ScalekitSecretArn?.Value).toEqual(ref(scalekitSecret));
    expect(outputs.AnthropicSecretArn?.Value).toEqual(ref(anthropicSecret));
  });
});
