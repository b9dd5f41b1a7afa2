/**
 * The tab's Logger: lines go to the browser console as `[infermesh] message {fields}` (tests
 * surface them from the page's console), warnings and errors also to a callback for the status
 * panel. Debug lines only when asked (`?debug=1`): libp2p dial retries are noisy.
 */
import type { LogFields, Logger } from '../core/logger.ts';

/** Where log lines of each level go. */
export interface BrowserLoggerInit {
  debug?: boolean;
  /** Called for warn and error lines with the formatted text. */
  onProblem?: (level: 'warn' | 'error', text: string) => void;
  /** The console to write to (default `console`). */
  sink?: Pick<Console, 'log' | 'warn' | 'error' | 'debug'>;
}

function format(msg: string, fields: LogFields): string {
  const parts = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.length === 0 ? msg : `${msg} (${parts.join(', ')})`;
}

/** A Logger writing `[infermesh] …` console lines. */
export function browserLogger(init: BrowserLoggerInit = {}, base: LogFields = {}): Logger {
  const sink = init.sink ?? console;
  const line = (msg: string, fields?: LogFields) => `[infermesh] ${format(msg, { ...base, ...fields })}`;
  return {
    debug(msg, fields) { if (init.debug) sink.debug(line(msg, fields)); },
    info(msg, fields) { sink.log(line(msg, fields)); },
    warn(msg, fields) {
      const text = line(msg, fields);
      sink.warn(text);
      init.onProblem?.('warn', text);
    },
    error(msg, fields) {
      const text = line(msg, fields);
      sink.error(text);
      init.onProblem?.('error', text);
    },
    child(fields) { return browserLogger(init, { ...base, ...fields }); },
  };
}
