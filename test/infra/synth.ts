import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../infra/constructs/onbehalf-function';
import { buildApp, type OnbehalfApp } from '../../infra/stacks/onbehalf-app';

export interface Synthesized extends OnbehalfApp {
  readonly statefulTemplate: Template;
  readonly apiTemplate: Template;
}

/**
 * Builds the app exactly as `infra/app.ts` does (same `buildApp`, cdk-nag included, cdk.json's
 * feature flags) but with bundling skipped and the built-in CloudFormation validation off, and
 * synthesizes it once. Settings come only from `context` and `env` (never this process's
 * environment). Synthesis throws if cdk-nag reports an unacknowledged error.
 */
export function synthesize(options: { context?: Record<string, unknown>; env?: Record<string, string> } = {}): Synthesized {
  process.env.CDK_VALIDATION = 'false';
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  // Without the web console unless a test asks for it (`context: { console: true }`): the API's
  // own tests check it as a deployment without a console origin.
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], console: false, ...options.context } });
  const built = buildApp({ app, env: options.env ?? {} });
  return {
    ...built,
    statefulTemplate: Template.fromStack(built.stateful),
    apiTemplate: Template.fromStack(built.api),
  };
}

/** The logical id of a construct's CloudFormation resource (the construct itself or its default child). */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return stack.getLogicalId(element);
}

export interface CfnResourceJson {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** Every resource of a type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, CfnResourceJson> {
  return template.findResources(type) as Record<string, CfnResourceJson>;
}
