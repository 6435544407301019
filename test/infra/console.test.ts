import { Match } from 'aws-cdk-lib/assertions';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { resourcesOf, synthesize, type Synthesized } from './synth';

let synth: Synthesized;
let consoleTemplate: Template;
let contentTemplate: Template;

beforeAll(() => {
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' }, context: { console: true } });
  consoleTemplate = Template.fromStack(synth.console!);
  contentTemplate = Template.fromStack(synth.consoleContent!);
});

describe('the web console when deployed', () => {
  it('is left out of the app with console=false (deployed otherwise)', () => {
    expect(
      synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' }, context: { console: 'false' } }).console,
    ).toBeUndefined();
  });

  it('serves a private bucket through CloudFront with origin access control only', () => {
    consoleTemplate.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    consoleTemplate.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    consoleTemplate.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: { OriginAccessIdentity: '' } })],
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https', ResponseHeadersPolicyId: Match.anyValue() }),
        CustomErrorResponses: Match.arrayWith([Match.objectLike({ ErrorCode: 404, ResponseCode: 200, ResponsePagePath: '/index.html' })]),
      }),
    });
  });

  it('sends a strict CSP, no framing and no referrer with every file', () => {
    const policies = Object.values(resourcesOf(consoleTemplate, 'AWS::CloudFront::ResponseHeadersPolicy'));
    expect(policies).toHaveLength(1);
    const config = JSON.stringify(policies[0]!.Properties);
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      expect(config).toContain(directive);
    }
    expect(config).not.toContain('unsafe-inline');
    expect(config).toContain('"ReferrerPolicy":"no-referrer"');
    expect(config).toContain('"FrameOption":"DENY"');
  });

  it('adds a managed-login domain and a public app client with code + PKCE on the CloudFront domain', () => {
    consoleTemplate.hasResourceProperties('AWS::Cognito::UserPoolDomain', { ManagedLoginVersion: 2 });
    consoleTemplate.resourceCountIs('AWS::Cognito::ManagedLoginBranding', 1);
    consoleTemplate.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: Match.arrayWith(['openid', 'aws.cognito.signin.user.admin']),
      CallbackURLs: [
        { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cdn'), 'DomainName'] }, '/auth/callback']] },
      ],
    });
    // The stateful stack keeps only the native client: the console's lives with the console.
    Template.fromStack(synth.stateful).resourceCountIs('AWS::Cognito::UserPoolClient', 1);
  });

  it('makes the functions accept the console client and use the console as web origin and verify page', () => {
    for (const fn of Object.values(synth.api.functions)) {
      const env = Template.fromStack(synth.api).toJSON().Resources[synth.api.getLogicalId(fn.function.node.defaultChild as never)]
        .Properties.Environment.Variables as Record<string, unknown>;
      expect(JSON.stringify(env.COGNITO_WEB_CLIENT_ID)).toContain('ConsoleClient');
      expect(JSON.stringify(env.ONBEHALF_WEB_ORIGIN)).toContain('Cdn');
      expect(JSON.stringify(env.ONBEHALF_DEFAULT_VERIFY_URL)).toContain('/connections/verify');
    }
  });

  it('uploads the build and a config.json naming the API, the pool and the console client', () => {
    contentTemplate.resourceCountIs('Custom::CDKBucketDeployment', 1);
    const deployment = Object.values(resourcesOf(contentTemplate, 'Custom::CDKBucketDeployment'))[0]!;
    // The deploy-time values of config.json travel as the deployment's source markers.
    const markers = JSON.stringify(deployment.Properties.SourceMarkers);
    expect(markers).toContain('execute-api');
    expect(markers).toContain('ConsoleClient');
    expect(JSON.stringify(deployment.Properties.DistributionPaths)).toContain('/*');
  });
});
