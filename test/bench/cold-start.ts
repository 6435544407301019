/**
 * Scenario 5 — cold start: each function's bundle exactly as `cdk deploy` uploads it
 * (`infra/bundles.ts`: a real synth with esbuild bundling; node24, CJS, minified, source maps) and
 * its module-initialisation time in fresh `node` processes, against importing the same handler
 * unbundled from sources and `node_modules` (through tsx, timing only the import).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { PROJECT_ROOT } from '../../infra/constructs/onbehalf-function';
import type { Bench } from './harness';
import type { Scenario } from './scenario';
import { median, round } from './stats';

const run = promisify(execFile);
const FUNCTIONS = ['connect', 'verify', 'chat', 'connection-status'] as const;

/** The package an input of the bundle belongs to (`ours` for the project's own sources). */
function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at === -1) return 'ours';
  const parts = input.slice(at + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * The same esbuild options `NodejsFunction` is given by our construct: answers the file and its
 * bytes by package (the synthesized bundle is what is timed; this build only explains its size,
 * and stands in for it if the synth fails).
 */
async function bundle(name: string, outdir: string): Promise<{ file: string; byPackage: [string, number][] }> {
  const result = await build({
    entryPoints: [join(PROJECT_ROOT, 'functions', name, 'handler.ts')],
    outfile: join(outdir, name, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'silent',
    metafile: true,
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
    }
  }
  return { file: join(outdir, name, 'index.js'), byPackage: [...byPackage].sort((a, b) => b[1] - a[1]) };
}

/** Milliseconds printed by one fresh `node` process. */
async function timeInFreshProcess(args: string[], env: Record<string, string>): Promise<number> {
  const { stdout } = await run(process.execPath, args, { cwd: PROJECT_ROOT, env, maxBuffer: 1024 * 1024 });
  const ms = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(ms)) throw new Error(`no timing in ${JSON.stringify(stdout)}`);
  return ms;
}

/**
 * What the Lambda runtime defines before it loads a function (outside the timing): the chat
 * function wraps its handler with `awslambda.streamifyResponse` as its module loads.
 */
const RUNTIME_GLOBALS = 'globalThis.awslambda={streamifyResponse:(h)=>h,HttpResponseStream:{from:(s)=>s}};';
const REQUIRE_TIMING = (file: string) =>
  `${RUNTIME_GLOBALS}const t=process.hrtime.bigint();require(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`;
const IMPORT_TIMING = (file: string) =>
  `${RUNTIME_GLOBALS}const t=process.hrtime.bigint();await import(${JSON.stringify(pathToFileURL(file).href)});console.log(Number(process.hrtime.bigint()-t)/1e6)`;

export const coldStart: Scenario = {
  id: 'coldstart',
  number: 5,
  title: 'Cold start: bundle size and module init in a fresh Node process',
  async run(bench: Bench) {
    const samples = bench.quick ? 3 : 10;
    const outdir = mkdtempSync(join(tmpdir(), 'onbehalf-bench-bundles-'));
    // A clean environment: the function's settings, nothing of this process (tsx's loader included).
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...bench.functionEnv,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    const notes: string[] = [];
    // The deployed bundles, from a real synth (cdk-lib is loaded only for this scenario).
    let deployed: Record<string, { file: string; environment: Readonly<Record<string, string>> }> | undefined;
    try {
      const { synthesizeBundles } = await import('../../infra/bundles');
      const synthStarted = Date.now();
      deployed = await synthesizeBundles(join(outdir, 'cdk.out'), { env: { SCALEKIT_ENVIRONMENT_URL: 'https://bench.scalekit.invalid' } });
      bench.log(`  synthesized the deployed bundles in ${Date.now() - synthStarted} ms`);
    } catch (error) {
      notes.push(
        `synthesizeBundles failed (${(error as Error).message.split('\n')[0]}); timed esbuild builds with the construct's options instead`,
      );
    }
    const results: {
      name: string;
      source: 'cdk synth' | 'esbuild';
      bytes: number;
      mapBytes: number;
      bundledMs: number;
      withSourceMapsMs: number;
      unbundledMs: number;
      largestPackages: [string, number][];
    }[] = [];
    try {
      for (const name of FUNCTIONS) {
        const built = await bundle(name, join(outdir, 'esbuild'));
        const synthesized = deployed?.[name];
        const file = synthesized?.file ?? built.file;
        // What the deployment sets (NODE_OPTIONS=--enable-source-maps, Powertools names) over the local settings.
        const deployedEnv = { ...env, ...synthesized?.environment };
        const { NODE_OPTIONS: deployedNodeOptions, ...withoutNodeOptions } = deployedEnv;
        const entry = join(PROJECT_ROOT, 'functions', name, 'handler.ts');
        const bundled: number[] = [];
        const withMaps: number[] = [];
        const unbundled: number[] = [];
        // One unmeasured import first: tsx compiles our TypeScript once and caches it on disk.
        await timeInFreshProcess(['--import', 'tsx', '--input-type=module', '-e', IMPORT_TIMING(entry)], env);
        for (let i = 0; i < samples; i++) {
          // Interleaved, so a noisy moment hits all three alike.
          bundled.push(await timeInFreshProcess(['-e', REQUIRE_TIMING(file)], withoutNodeOptions));
          withMaps.push(
            await timeInFreshProcess(['-e', REQUIRE_TIMING(file)], {
              ...withoutNodeOptions,
              NODE_OPTIONS: deployedNodeOptions ?? '--enable-source-maps',
            }),
          );
          unbundled.push(await timeInFreshProcess(['--import', 'tsx', '--input-type=module', '-e', IMPORT_TIMING(entry)], env));
        }
        results.push({
          name,
          source: synthesized ? 'cdk synth' : 'esbuild',
          bytes: statSync(file).size,
          mapBytes: existsSync(`${file}.map`) ? statSync(`${file}.map`).size : 0,
          bundledMs: median(bundled),
          withSourceMapsMs: median(withMaps),
          unbundledMs: median(unbundled),
          largestPackages: built.byPackage.slice(0, 6),
        });
        bench.log(`  ${name}: ${round(median(bundled))} ms bundled, ${round(median(unbundled))} ms unbundled`);
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
    const kb = (bytes: number) => `${round(bytes / 1024, 0)} KiB`;
    return {
      settings: {
        samplesPerFigure: samples,
        esbuild: { platform: 'node', target: 'node24', format: 'cjs', minify: true, sourcemap: true, sourcesContent: false },
        bundles: 'infra/bundles.ts synthesizeBundles (the cdk deploy assets); package sizes from an esbuild metafile with the same options',
        bundledCommand: 'node -e "<time require(bundle)>" (without, then with the deployed NODE_OPTIONS=--enable-source-maps)',
        unbundledCommand: 'node --import tsx --input-type=module -e "<time import(handler.ts)>"',
        node: process.version,
      },
      figures: results.flatMap((r) => [
        {
          label: `${r.name}: bundle size`,
          value: kb(r.bytes),
          unit: `(+ ${kb(r.mapBytes)} map); largest: ${r.largestPackages
            .slice(0, 3)
            .map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`)
            .join(', ')}`,
        },
        {
          label: `${r.name}: module init bundled / unbundled`,
          value: `${round(r.bundledMs)} / ${round(r.unbundledMs)}`,
          unit: `ms (${round(r.unbundledMs / r.bundledMs, 2)}×); with --enable-source-maps ${round(r.withSourceMapsMs)} ms`,
        },
      ]),
      details: {
        functions: results.map((r) => ({
          ...r,
          bundledMs: round(r.bundledMs),
          withSourceMapsMs: round(r.withSourceMapsMs),
          unbundledMs: round(r.unbundledMs),
        })),
      },
      notes,
    };
  },
};
