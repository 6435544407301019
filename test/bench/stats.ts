/** Small statistics and table printing for the bench: medians and nearest-rank percentiles. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (`p` in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Rounds to `digits` decimals (figures are reported, not computed with further). */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The median of a per-key breakdown: each key's median over the samples (0 where absent). */
export function medianByKey(samples: readonly Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(samples.flatMap((sample) => Object.keys(sample)))].sort();
  return Object.fromEntries(keys.map((key) => [key, median(samples.map((sample) => sample[key] ?? 0))]));
}

/** A figure of the results table: a value with its unit and, optionally, how it was obtained. */
export interface Figure {
  readonly label: string;
  readonly value: number | string | null;
  readonly unit?: string;
}

const show = (value: number | string | null): string => {
  if (value === null) return 'n/a';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return 'n/a';
  return Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value)) : String(round(value, 2));
};

/** Renders rows as an aligned plain-text table. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The figures of one scenario as table rows: scenario, figure, value, unit. */
export function figureRows(scenario: string, figures: readonly Figure[]): string[][] {
  return figures.map((figure, i) => [i === 0 ? scenario : '', figure.label, show(figure.value), figure.unit ?? '']);
}

/** The same rows as a Markdown table (for the README's Benchmarks section). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const escapeCell = (cell: string) => cell.replace(/\|/g, '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
  ].join('\n');
}

export { show as formatValue };
