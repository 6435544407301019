import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * What a deployed bundle is made of, read from the bundle itself and the source map shipped next
 * to it (the construct bundles with `sourceMap: true`): the map's `sources` are exactly the
 * modules that put code in the file (tree-shaken ones put none), and its mappings tell how many
 * characters each contributed.
 */
export interface BundleContents {
  /** Files of the repository in the bundle, relative to the project root with `/` separators. */
  readonly projectFiles: readonly string[];
  /** npm packages in the bundle → characters of the bundle they account for. */
  readonly packages: ReadonlyMap<string, number>;
  /** Module paths inside packages, as `<package>/<path in the package>`. */
  readonly packageFiles: readonly string[];
  /** Characters the project's own files account for. */
  readonly projectChars: number;
  /** Every `require("…")` left in the bundle (resolved at run time, from the Lambda's own `/var/task`). */
  readonly requires: readonly string[];
}

interface SourceMap {
  readonly sources: readonly string[];
  readonly sourceRoot?: string;
  readonly mappings: string;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) DIGIT[BASE64.charCodeAt(i)] = i;

/** Decodes one segment's base64 VLQ fields. */
function decodeSegment(segment: string): number[] {
  const fields: number[] = [];
  let value = 0;
  let shift = 0;
  for (let i = 0; i < segment.length; i++) {
    const digit = DIGIT[segment.charCodeAt(i)] ?? -1;
    if (digit < 0) throw new Error(`bad source map segment ${segment}`);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value & 1 ? -(value - 1) / 2 : value / 2);
    value = 0;
    shift = 0;
  }
  return fields;
}

/** Characters of the generated code attributed to each source (a segment runs to the next one or the line's end). */
function charsBySource(code: string, map: SourceMap): number[] {
  const chars = new Array<number>(map.sources.length).fill(0);
  const lines = code.split('\n');
  let source = 0;
  map.mappings.split(';').forEach((line, index) => {
    const lineLength = lines[index]?.length ?? 0;
    let column = 0;
    const segments: { column: number; source: number | undefined }[] = [];
    for (const segment of line.split(',')) {
      if (segment === '') continue;
      const fields = decodeSegment(segment);
      column += fields[0] ?? 0;
      if (fields.length >= 4) source += fields[1] ?? 0;
      segments.push({ column, source: fields.length >= 4 ? source : undefined });
    }
    segments.forEach((segment, i) => {
      if (segment.source === undefined) return;
      const end = segments[i + 1]?.column ?? lineLength;
      chars[segment.source] = (chars[segment.source] ?? 0) + Math.max(0, end - segment.column);
    });
  });
  return chars;
}

/** `…/node_modules/@scope/name/lib/x.js` → `['@scope/name', 'lib/x.js']` (the innermost `node_modules`). */
function packageOf(path: string): [string, string] | undefined {
  const parts = path.split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return undefined;
  const scoped = parts[at + 1]?.startsWith('@');
  const name = parts.slice(at + 1, at + (scoped ? 3 : 2)).join('/');
  return [name, parts.slice(at + (scoped ? 3 : 2)).join('/')];
}

const BUILTINS = new Set(builtinModules);

/** True for `fs`, `node:fs`, `fs/promises`, … */
export const isBuiltin = (specifier: string): boolean =>
  specifier.startsWith('node:') || BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0] ?? '');

/** Reads `file` and `file.map` and tells what the bundle holds. */
export function contentsOf(file: string, projectRoot: string): BundleContents {
  const code = readFileSync(file, 'utf8');
  let map: SourceMap;
  try {
    map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMap;
  } catch (error) {
    throw new Error(`${file} has no readable source map (the construct bundles with sourceMap: true): ${String(error)}`);
  }
  const chars = charsBySource(code, map);
  const base = resolve(dirname(file), map.sourceRoot ?? '');
  const projectFiles: string[] = [];
  const packageFiles: string[] = [];
  const packages = new Map<string, number>();
  let projectChars = 0;
  map.sources.forEach((source, index) => {
    const absolute = isAbsolute(source) ? source : resolve(base, source);
    const size = chars[index] ?? 0;
    const inPackage = packageOf(absolute);
    if (inPackage) {
      packages.set(inPackage[0], (packages.get(inPackage[0]) ?? 0) + size);
      packageFiles.push(`${inPackage[0]}/${inPackage[1]}`);
      return;
    }
    const fromRoot = relative(projectRoot, absolute);
    if (!fromRoot.startsWith('..') && !isAbsolute(fromRoot)) {
      projectFiles.push(fromRoot.split(sep).join('/'));
      projectChars += size;
    }
  });
  const requires = [...new Set([...code.matchAll(/\brequire\(\s*(["'`])([^"'`]+)\1\s*\)/g)].map((match) => match[2] ?? ''))].sort();
  return { projectFiles, packages, packageFiles, projectChars, requires };
}

/** Package names reachable from `roots` through the lock file's dependency edges (any version, any nesting). */
export function packageClosure(
  lock: {
    packages: Record<
      string,
      { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }
    >;
  },
  roots: Iterable<string>,
): Set<string> {
  const edges = new Map<string, Set<string>>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const name = path === '' ? undefined : packageOf(`${path}/x`)?.[0];
    if (!name) continue;
    const targets = edges.get(name) ?? new Set<string>();
    for (const dependency of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies }))
      targets.add(dependency);
    edges.set(name, targets);
  }
  const seen = new Set<string>();
  const pending = [...roots];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    pending.push(...(edges.get(name) ?? []));
  }
  return seen;
}
