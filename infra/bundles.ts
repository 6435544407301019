import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, type CfnResource } from 'aws-cdk-lib';
import { PROJECT_ROOT } from './constructs/onbehalf-function';
import { loadSettings } from './settings';
import { functionSpecs, type DeployedFunctionName } from './stacks/function-specs';
import { buildApp } from './stacks/onbehalf-app';

/** One function's code exactly as `cdk deploy` uploads it: the asset directory of the cloud assembly. */
export interface FunctionBundle {
  /** The asset directory (`<outdir>/asset.<hash>`) that is zipped and uploaded as the function's code. */
  readonly dir: string;
  /** The file the Lambda runtime loads for the function's `Handler` (`index.handler` → `<dir>/index.js`). */
  readonly file: string;
  /** Size of {@link file} in bytes. */
  readonly bytes: number;
  /** The export the runtime calls (`handler`). */
  readonly exportName: string;
  /**
   * The function's environment as the template deploys it, literal values only: values that are
   * references (table name, user pool, secret ARNs) resolve at deployment and are left out.
   */
  readonly environment: Readonly<Record<string, string>>;
}

export interface SynthesizeBundlesOptions {
  /** The environment deployment settings are read from. @default {} (every setting at its default) */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra CDK context (as `-c key=value`), over cdk.json's. */
  readonly context?: Readonly<Record<string, unknown>>;
}

interface AssemblyManifest {
  readonly artifacts?: Record<
    string,
    { readonly type: string; readonly properties?: { readonly file?: string; readonly templateFile?: string } }
  >;
}
interface AssetManifest {
  readonly files?: Record<string, { readonly source: { readonly path?: string; readonly packaging?: string } }>;
}
interface FunctionResource {
  readonly Type: string;
  readonly Properties?: {
    readonly Handler?: string;
    readonly Code?: { readonly S3Key?: unknown };
    readonly Environment?: { readonly Variables?: Record<string, unknown> };
  };
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/**
 * Synthesizes the app as `cdk synth` does — the same `buildApp`, cdk.json's context, cdk-nag —
 * into `outdir`, with esbuild bundling on for the api stack only (the stateful stack has no
 * code), and finds each function's bundle in the cloud assembly the way the CLI does: the
 * function's `Code.S3Key` in the stack template names an asset of the stack's asset manifest,
 * whose source directory is what gets zipped and uploaded. Nothing is cached between calls;
 * pass a fresh directory outside the project (a bundle there cannot fall back to the project's
 * `node_modules`, as in Lambda).
 */
export async function synthesizeBundles(
  outdir: string,
  options: SynthesizeBundlesOptions = {},
): Promise<Record<DeployedFunctionName, FunctionBundle>> {
  const env = options.env ?? {};
  const cdkJson = readJson<{ context?: Record<string, unknown> }>(join(PROJECT_ROOT, 'cdk.json'));
  const context: Record<string, unknown> = { ...cdkJson.context, ...options.context };
  const { stackPrefix } = loadSettings({ context: (key) => context[key], env });
  const app = new App({ outdir, context: { ...context, 'aws:cdk:bundling-stacks': [`${stackPrefix}-Api`] } });

  // The CloudFormation validation pass adds seconds and checks nothing the infra tests don't.
  const validation = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  let api: ReturnType<typeof buildApp>['api'];
  try {
    api = buildApp({ app, env }).api;
    app.synth();
  } finally {
    if (validation === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = validation;
  }

  const manifest = readJson<AssemblyManifest>(join(outdir, 'manifest.json'));
  const artifacts = manifest.artifacts ?? {};
  const stackArtifact = artifacts[api.artifactId];
  const templateFile = stackArtifact?.properties?.templateFile;
  if (stackArtifact?.type !== 'aws:cloudformation:stack' || !templateFile) {
    throw new Error(`the cloud assembly has no template for ${api.artifactId}`);
  }
  const assetsArtifact = Object.values(artifacts).find(
    (artifact) => artifact.type === 'cdk:asset-manifest' && artifact.properties?.file === `${api.artifactId}.assets.json`,
  );
  if (!assetsArtifact?.properties?.file) throw new Error(`the cloud assembly has no asset manifest for ${api.artifactId}`);
  const template = readJson<{ Resources?: Record<string, FunctionResource> }>(join(outdir, templateFile));
  const assets = readJson<AssetManifest>(join(outdir, assetsArtifact.properties.file)).files ?? {};

  const locate = (name: DeployedFunctionName): FunctionBundle => {
    const logicalId = api.getLogicalId(api.functions[name].function.node.defaultChild as CfnResource);
    const resource = template.Resources?.[logicalId];
    if (resource?.Type !== 'AWS::Lambda::Function') throw new Error(`${name}: no AWS::Lambda::Function ${logicalId} in ${templateFile}`);
    const key = resource.Properties?.Code?.S3Key;
    const hash = typeof key === 'string' ? /^([0-9a-f]{64})\.zip$/.exec(key)?.[1] : undefined;
    const source = hash ? assets[hash]?.source : undefined;
    if (!source?.path || source.packaging !== 'zip') throw new Error(`${name}: Code.S3Key ${JSON.stringify(key)} names no zipped asset`);
    const dir = resolve(outdir, source.path);

    const handler = resource.Properties?.Handler ?? '';
    const dot = handler.lastIndexOf('.');
    if (dot <= 0) throw new Error(`${name}: unexpected Handler ${JSON.stringify(handler)}`);
    const file = ['.js', '.cjs', '.mjs'].map((ext) => join(dir, handler.slice(0, dot) + ext)).find((candidate) => existsSync(candidate));
    if (!file) throw new Error(`${name}: the asset ${dir} has no module for Handler ${handler}`);

    const environment: Record<string, string> = {};
    for (const [variable, value] of Object.entries(resource.Properties?.Environment?.Variables ?? {})) {
      if (typeof value === 'string') environment[variable] = value;
    }
    return { dir, file, bytes: statSync(file).size, exportName: handler.slice(dot + 1), environment };
  };

  const names = Object.keys(functionSpecs) as DeployedFunctionName[];
  return Object.fromEntries(names.map((name) => [name, locate(name)])) as Record<DeployedFunctionName, FunctionBundle>;
}
