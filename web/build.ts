import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync, type OutputFile } from 'esbuild';

const webDir = dirname(fileURLToPath(import.meta.url));

/** One file of the built console: its URL path (`/index.html`, `/assets/main-<hash>.js`) and bytes. */
export interface ConsoleFile {
  readonly path: string;
  readonly contents: Uint8Array;
  readonly contentType: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
};

export const contentTypeOf = (path: string) => CONTENT_TYPES[/\.[a-z]+$/.exec(path)?.[0] ?? ''] ?? 'application/octet-stream';

const options = (outdir: string): BuildOptions => ({
  entryPoints: [join(webDir, 'src/main.tsx')],
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: 'assets/[name]-[hash]',
  outdir,
  write: false,
  metafile: false,
  legalComments: 'linked',
  logLevel: 'silent',
});

/** Turns esbuild's output into the console's files, with `index.html` naming the hashed bundles. */
function filesOf(outputs: OutputFile[], outdir: string): ConsoleFile[] {
  const files: ConsoleFile[] = outputs.map((output) => {
    const path = `/${relative(outdir, output.path).split('\\').join('/')}`;
    return { path, contents: output.contents, contentType: contentTypeOf(path) };
  });
  const script = files.find((file) => file.path.endsWith('.js'))?.path;
  const styles = files.find((file) => file.path.endsWith('.css'))?.path;
  if (!script || !styles) throw new Error('the console build produced no script or stylesheet');
  const html = readFileSync(join(webDir, 'index.html'), 'utf8').replace('%SCRIPT%', script).replace('%STYLES%', styles);
  files.push({ path: '/index.html', contents: new TextEncoder().encode(html), contentType: contentTypeOf('/index.html') });
  return files;
}

/** Builds the console in memory (esbuild; well under a second), for the local console server. */
export async function buildConsole(): Promise<ConsoleFile[]> {
  const outdir = resolve(webDir, 'dist');
  const result = await build(options(outdir));
  return filesOf(result.outputFiles ?? [], outdir);
}

/** Builds the console into `outdir` synchronously (CDK synthesizes synchronously) and returns the directory. */
export function writeConsole(outdir: string): string {
  const result = buildSync(options(outdir));
  for (const file of filesOf(result.outputFiles ?? [], outdir)) {
    const target = join(outdir, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.contents);
  }
  return outdir;
}
