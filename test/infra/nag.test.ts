import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { logicalId, synthesize, type Synthesized } from './synth';

let synth: Synthesized;
let annotations: Annotations[];

interface Acknowledgment {
  readonly id: string;
  readonly reason: string;
  readonly path: string;
}

interface Finding {
  readonly rule: string;
  readonly path: string;
}

/** Every acknowledgment recorded with `Validations.of(…).acknowledge(…)` anywhere in the app. */
function acknowledgments(root: IConstruct): Acknowledgment[] {
  return root.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ id, reason, path: construct.node.path })),
        ),
    );
}

/** What AwsSolutions finds when nothing is acknowledged (cdk-nag skips acknowledged findings itself). */
function unacknowledgedFindings(root: IConstruct): Finding[] {
  const pack = new AwsSolutionsChecks();
  const internals = pack as unknown as { isAcknowledged?: unknown };
  expect(typeof internals.isAcknowledged, 'cdk-nag internals changed: update this test').toBe('function');
  internals.isAcknowledged = () => false;
  return pack
    .validateScope(root)
    .violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({ rule: violation.ruleName, path: resource.constructPath ?? '' })),
    );
}

// aws-cdk-lib records an id without a plugin prefix as `Annotation::<id>`; cdk-nag reads it back without the prefix.
const normalized = (id: string) => id.replace(/^(annotation|AwsSolutions)::/i, '');
const covers = (ack: Acknowledgment, finding: Finding) =>
  normalized(ack.id) === finding.rule && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`));

beforeAll(() => {
  // Only the one required setting, as a first `npm run synth` would run.
  // Everything a first deploy deploys, the web console included.
  synth = synthesize({ env: { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' }, context: { console: true } });
  annotations = [synth.stateful, synth.api, synth.console!, synth.consoleContent!].map((stack) => Annotations.fromStack(stack));
});

describe('cdk-nag AwsSolutionsChecks', () => {
  it('synthesis passes with no unacknowledged AwsSolutions error or warning', () => {
    // Prepare
    const reportFile = join(synth.app.outdir, 'validation-report.json');
    const report = existsSync(reportFile)
      ? (JSON.parse(readFileSync(reportFile, 'utf8')) as { pluginReports: { pluginName: string; violations: unknown[] }[] })
      : { pluginReports: [] };
    // Assess
    const nag = report.pluginReports.filter((plugin) => plugin.pluginName === 'AwsSolutions');
    expect(nag.flatMap((plugin) => plugin.violations)).toEqual([]);
    for (const stack of annotations) {
      expect(stack.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(stack.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    }
  });

  it('has nothing to acknowledge about the Lambda runtime: every function runs the latest Node.js (nodejs24.x)', () => {
    // Only the console upload's custom resource (aws-s3-deployment's own Python runtime) is exempt.
    const ours = (path: string) => !path.startsWith(synth.consoleContent!.node.path);
    expect(acknowledgments(synth.app).filter((ack) => normalized(ack.id) === 'AwsSolutions-L1' && ours(ack.path))).toEqual([]);
    expect(unacknowledgedFindings(synth.app).filter((finding) => finding.rule === 'AwsSolutions-L1' && ours(finding.path))).toEqual([]);
  });

  it('acknowledges only these findings, each with its reason', () => {
    // Prepare
    const acks = acknowledgments(synth.app).filter((ack) => normalized(ack.id).startsWith('AwsSolutions-'));
    // Assess
    expect([...new Set(acks.map((ack) => normalized(ack.id)))].sort()).toEqual(
      [
        'AwsSolutions-APIG2',
        'AwsSolutions-APIG3',
        'AwsSolutions-APIG4',
        'AwsSolutions-COG4',
        'AwsSolutions-COG2',
        'AwsSolutions-COG8',
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'AwsSolutions-IAM5[Resource::*]',
        `AwsSolutions-IAM5[Resource::<${logicalId(synth.api, synth.api.functions['connection-status'].function)}.Arn>:*]`,
        'AwsSolutions-SMG4',
        'AwsSolutions-SQS3',
        // The console's hosting (CloudFront, its bucket) and the upload of its files.
        'AwsSolutions-CFR1',
        'AwsSolutions-CFR2',
        'AwsSolutions-CFR3',
        'AwsSolutions-CFR4',
        'AwsSolutions-S1',
        'AwsSolutions-L1',
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        ...['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'].map(
          (action) => `AwsSolutions-IAM5[Action::${action}]`,
        ),
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::onbehalf-console-<AWS::AccountId>-<AWS::Region>/*]',
      ].sort(),
    );
    for (const ack of acks) expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThan(40);
  });

  it('every acknowledgment answers a real finding, and every finding is acknowledged', () => {
    // Prepare
    const acks = acknowledgments(synth.app).filter((ack) => normalized(ack.id).startsWith('AwsSolutions-'));
    // Act
    const findings = unacknowledgedFindings(synth.app);
    // Assess
    expect(findings.length).toBeGreaterThan(0);
    for (const ack of acks)
      expect(
        findings.some((finding) => covers(ack, finding)),
        `stale: ${ack.id} at ${ack.path}`,
      ).toBe(true);
    for (const finding of findings) {
      expect(
        acks.some((ack) => covers(ack, finding)),
        `unacknowledged: ${finding.rule} at ${finding.path}`,
      ).toBe(true);
    }
  });
});
