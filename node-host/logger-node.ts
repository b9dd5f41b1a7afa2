/**
 * The Node host's logger: one line per event, readable by a person (`time LEVEL msg k=v`)
 * or JSON lines for log shippers (`--log-format json`). Writes to stderr so stdout stays
 * free for command output (`infermesh infer` prints JSON there).
 */
import type { LogFields, Logger } from '../core/logger.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface NodeLoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  write?: (line: string) => void;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Creates a logger writing to stderr (or `options.write`). */
export function createNodeLogger(options: NodeLoggerOptions = {}, base: LogFields = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = options.format === 'json';
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const all = { ...base, ...fields };
    const time = new Date().toISOString();
    if (json) {
      write(JSON.stringify({ time, level, msg, ...all }));
      return;
    }
    const kv = Object.entries(all).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${kv ? ' ' + kv : ''}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createNodeLogger(options, { ...base, ...fields }),
  };
}
