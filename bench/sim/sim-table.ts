/**
 * Markdown tables padded to align, so the same text reads well in a terminal and pastes
 * into docs/SCHEDULING.md unchanged.
 */

/** Header cells, rows of cells, and per-column alignment ('r' for numbers). */
export interface SimTable {
  headers: string[];
  align: ('l' | 'r')[];
  rows: string[][];
}

/** Renders an aligned GitHub-flavoured Markdown table. */
export function renderTable(t: SimTable): string {
  const widths = t.headers.map((h, i) => Math.max(3, h.length, ...t.rows.map((r) => r[i].length)));
  const pad = (c: string, i: number) => (t.align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (t.align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(t.headers), rule, ...t.rows.map(line)].join('\n');
}

/** A number with `digits` decimals, or "–" when not finite. */
export function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '–';
}
