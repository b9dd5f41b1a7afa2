/**
 * One table, two renderings: aligned plain text for the terminal and GitHub Markdown for
 * `--markdown FILE`, so both always show the same rows.
 */

export interface Table {
  headers: string[];
  /** 'r' right-aligns a column (numbers), 'l' left-aligns it. */
  align: ('l' | 'r')[];
  rows: string[][];
}

export function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (t.align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function renderMarkdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `|${t.align.map((a) => (a === 'r' ? '---:' : ':---')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Integer with thousands separators ("12,345"), or "–" for a missing value. */
export function num(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const fixed = v.toFixed(digits);
  const [int, frac] = fixed.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${grouped}.${frac}` : grouped;
}
