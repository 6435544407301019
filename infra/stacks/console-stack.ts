import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aws, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import {
  CfnManagedLoginBranding,
  type IUserPool,
  ManagedLoginVersion,
  OAuthScope,
  UserPoolClient,
  UserPoolDomain,
} from 'aws-cdk-lib/aws-cognito';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { writeConsole } from '../../web/build';
import type { Settings } from '../settings';

/**
 * The console bucket's name, known to both console stacks without a cross-stack reference (so
 * the upload's IAM policy names it plainly). At most 63 characters.
 */
const consoleBucketName = (settings: Settings) =>
  `${settings.stackPrefix.toLowerCase().slice(0, 20)}-console-${Aws.ACCOUNT_ID}-${Aws.REGION}`;

/** The console's paths the managed login may send the browser back to. */
const CALLBACK_PATH = '/auth/callback';

export interface ConsoleStackProps extends StackProps {
  readonly settings: Settings;
  /** The pool of the stateful stack: the console's app client and the managed-login domain are added to it. */
  readonly userPool: IUserPool;
}

/**
 * The web console's hosting and sign-in, in a stack of its own that depends only on the
 * stateful stack: a private S3 bucket behind CloudFront (origin access control, a response
 * headers policy with a strict CSP, every page path answered with `index.html`), the pool's
 * managed-login domain, and the console's public app client (authorization code + PKCE,
 * callback and logout URLs on the CloudFront domain). The api stack reads `origin` and
 * `webClient` from here; the console's files and `config.json` (which need the API's URL) are
 * uploaded by {@link ConsoleContentStack}, so no two stacks depend on each other.
 */
export class ConsoleStack extends Stack {
  readonly bucket: Bucket;
  readonly distribution: Distribution;
  readonly webClient: UserPoolClient;
  /** `https://<distribution domain>`: the API's web origin. */
  readonly origin: string;
  /** Base URL of the managed login (`/oauth2/authorize`, `/oauth2/token`, `/logout`). */
  readonly loginDomain: string;

  constructor(scope: Construct, id: string, props: ConsoleStackProps) {
    super(scope, id, props);

    this.bucket = new Bucket(this, 'Site', {
      bucketName: consoleBucketName(props.settings),
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
    });

    const domainPrefix = `${props.settings.stackPrefix.toLowerCase()}-${Aws.ACCOUNT_ID}`;
    const loginDomain = `https://${domainPrefix}.auth.${Aws.REGION}.amazoncognito.com`;
    this.loginDomain = loginDomain;

    const headers = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'onbehalf console: strict CSP, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          override: true,
          // The API's id is only known to the api stack, which depends on this one: allow the
          // region's execute-api hosts and this pool's managed login, nothing else.
          contentSecurityPolicy: [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            `connect-src 'self' https://*.execute-api.${Aws.REGION}.amazonaws.com ${loginDomain}`,
            `form-action 'self' ${loginDomain}`,
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "manifest-src 'self'",
          ].join('; '),
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
      },
    });

    this.distribution = new Distribution(this, 'Cdn', {
      comment: 'onbehalf console',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
      },
      // The app routes itself: a page path that is no object answers index.html.
      errorResponses: [403, 404].map((httpStatus) => ({
        httpStatus,
        responseHttpStatus: 200,
        responsePagePath: '/index.html',
        ttl: Duration.seconds(0),
      })),
      priceClass: PriceClass.PRICE_CLASS_100,
    });
    this.origin = `https://${this.distribution.distributionDomainName}`;

    const domain = new UserPoolDomain(this, 'LoginDomain', {
      userPool: props.userPool,
      cognitoDomain: { domainPrefix },
      managedLoginVersion: ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });

    // In this stack (not `userPool.addClient`, which would put it in the stateful stack and
    // make that stack depend on the CloudFront domain).
    this.webClient = new UserPoolClient(this, 'ConsoleClient', {
      userPool: props.userPool,
      userPoolClientName: `${props.settings.stackPrefix}-console`,
      generateSecret: false,
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE, OAuthScope.COGNITO_ADMIN],
        callbackUrls: [`${this.origin}${CALLBACK_PATH}`],
        logoutUrls: [`${this.origin}/`],
      },
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
    // Managed login (not the classic hosted UI) needs a style for the client: Cognito's own.
    new CfnManagedLoginBranding(this, 'LoginBranding', {
      userPoolId: props.userPool.userPoolId,
      clientId: this.webClient.userPoolClientId,
      useCognitoProvidedValues: true,
    }).node.addDependency(domain);

    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'The bucket holds only the public build of the console, replaced on every deploy; CloudFront is its only reader',
    });
    Validations.of(this.distribution).acknowledge(
      { id: 'AwsSolutions-CFR1', reason: 'The console is for every country the deployment serves; no geo restriction' },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'Static files only; the API behind it has its own throttling, and a WAF is the operator’s choice',
      },
      { id: 'AwsSolutions-CFR3', reason: 'Static files only: the API and Cognito keep the logs that matter' },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The default CloudFront certificate (*.cloudfront.net) is used until the operator adds a custom domain and certificate',
      },
    );

    new CfnOutput(this, 'ConsoleUrl', { value: this.origin, description: 'The web console' });
    new CfnOutput(this, 'ConsoleClientId', { value: this.webClient.userPoolClientId, description: "The console's public app client" });
    new CfnOutput(this, 'LoginDomainUrl', { value: loginDomain, description: 'Managed login base URL' });
  }
}

export interface ConsoleContentStackProps extends StackProps {
  readonly settings: Settings;
  readonly console: ConsoleStack;
  readonly userPool: IUserPool;
  /** The API's base URL (no trailing slash), from the api stack. */
  readonly apiUrl: string;
}

/**
 * Uploads the console's build and its `config.json` (API URL, issuer, managed-login domain,
 * app client) to the console's bucket and invalidates CloudFront. A stack of its own because it
 * needs both the api stack's URL and the console stack's bucket.
 */
export class ConsoleContentStack extends Stack {
  constructor(scope: Construct, id: string, props: ConsoleContentStackProps) {
    super(scope, id, props);
    const build = writeConsole(mkdtempSync(join(tmpdir(), 'onbehalf-console-')));
    const deployment = new BucketDeployment(this, 'Upload', {
      destinationBucket: Bucket.fromBucketName(this, 'Site', consoleBucketName(props.settings)),
      distribution: props.console.distribution,
      distributionPaths: ['/*'],
      sources: [
        Source.asset(build),
        Source.jsonData('config.json', {
          apiUrl: props.apiUrl,
          auth: {
            issuer: `https://cognito-idp.${Aws.REGION}.amazonaws.com/${props.userPool.userPoolId}`,
            domain: props.console.loginDomain,
            clientId: props.console.webClient.userPoolClientId,
            scope: 'openid email profile aws.cognito.signin.user.admin',
          },
        }),
      ],
      memoryLimit: 256,
    });
    const upload = 'The upload custom resource (aws-s3-deployment) replaces every object of the console bucket from the build asset';
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "The upload custom resource (aws-s3-deployment) logs with AWS's basic Lambda execution role",
      },
      ...['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'].map((action) => ({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: upload,
      })),
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        reason: upload,
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${props.settings.stackPrefix.toLowerCase().slice(0, 20)}-console-<AWS::AccountId>-<AWS::Region>/*]`,
        reason: upload,
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'CloudFront invalidations cannot be scoped to one distribution by aws-s3-deployment',
      },
      { id: 'AwsSolutions-L1', reason: 'The upload custom resource runs the Python runtime aws-s3-deployment pins; no function of ours' },
    );
    void deployment;
  }
}
