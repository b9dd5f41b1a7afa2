/**
 * Tokenizer of the protobuf text format (COMPAT-NOTES §3.13, protobuf.dev text-format spec):
 * identifiers, decimal/octal/hex integers, floats (`1.0`, `.5`, `1e3`, `10f`), single- or
 * double-quoted strings with C escapes decoded to bytes, and the symbols `{}<>[]:,;-`.
 * Whitespace includes \v and \f; `#` starts a comment. Tokens are produced on demand so an
 * error is reported at the first bad character, as `file:line:column`.
 */
import { InferError } from '../protocol/errors.ts';

/** Kinds of token. `int` and `float` keep their source text; the parser converts by field type. */
export type TokenKind = 'ident' | 'int' | 'float' | 'string' | 'symbol' | 'eof';

/** One token with its 1-based position. */
export interface Token {
  kind: TokenKind;
  /** Source text (for strings: including the quotes). */
  text: string;
  /** For strings: the bytes after escapes are applied (protobuf strings are bytes, UTF-8 checked). */
  bytes?: number[];
  line: number;
  col: number;
}

const SYMBOLS = '{}<>[]:,;-';
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63,
};

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';
const isIdentStart = (c: string | undefined) => c !== undefined && /^[A-Za-z_]$/.test(c);
const isIdentChar = (c: string | undefined) => c !== undefined && /^[A-Za-z0-9_]$/.test(c);

function utf8(cp: number, out: number[]): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

/** Turns text into tokens on demand, tracking line and column (both 1-based). */
export class Lexer {
  readonly #src: string;
  readonly #file: string;
  readonly #maxTokens: number;
  #pos = 0;
  #line = 1;
  #lineStart = 0;
  #count = 0;
  #peeked: Token | undefined;

  /** `maxTokens` bounds the work done on untrusted input; `file` is named in errors. */
  constructor(src: string, file: string, maxTokens: number) {
    this.#src = src;
    this.#file = file;
    this.#maxTokens = maxTokens;
    // A UTF-8 byte-order mark from a Windows editor is skipped without shifting columns.
    if (src.startsWith('\uFEFF')) { this.#pos = 1; this.#lineStart = 1; }
  }

  /** An INVALID_ARG error located at a line and column. */
  error(at: { line: number; col: number }, msg: string): InferError {
    return new InferError('INVALID_ARG', `${this.#file}:${at.line}:${at.col}: ${msg}`);
  }

  /** The next token, without consuming it. */
  peek(): Token {
    this.#peeked ??= this.#scan();
    return this.#peeked;
  }

  /** The next token, consumed. */
  next(): Token {
    const t = this.peek();
    this.#peeked = undefined;
    return t;
  }

  #skipSpace(): void {
    const s = this.#src;
    while (this.#pos < s.length) {
      const c = s[this.#pos];
      if (c === '\n') { this.#pos++; this.#line++; this.#lineStart = this.#pos; }
      else if (c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f') this.#pos++;
      else if (c === '#') { while (this.#pos < s.length && s[this.#pos] !== '\n') this.#pos++; }
      else return;
    }
  }

  #scan(): Token {
    this.#skipSpace();
    const s = this.#src;
    const start = this.#pos;
    const at = { line: this.#line, col: start - this.#lineStart + 1 };
    if (start >= s.length) return { kind: 'eof', text: '', ...at };
    if (++this.#count > this.#maxTokens) {
      throw this.error(at, `more than ${this.#maxTokens} tokens; a model configuration is never this large`);
    }
    const c = s[start];
    if (isIdentStart(c)) {
      let i = start + 1;
      while (isIdentChar(s[i])) i++;
      this.#pos = i;
      return { kind: 'ident', text: s.slice(start, i), ...at };
    }
    if (isDigit(c) || (c === '.' && isDigit(s[start + 1]))) return this.#number(at);
    if (c === '"' || c === "'") return this.#string(at);
    if (SYMBOLS.includes(c)) {
      this.#pos++;
      return { kind: 'symbol', text: c, ...at };
    }
    if (c === '/') throw this.error(at, "unexpected '/': comments in the protobuf text format start with '#'");
    throw this.error(at, `unexpected character ${JSON.stringify(String.fromCodePoint(s.codePointAt(start) ?? 0))}`);
  }

  #number(at: { line: number; col: number }): Token {
    const s = this.#src;
    const start = this.#pos;
    let i = start;
    let kind: 'int' | 'float' = 'int';
    if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X')) {
      i += 2;
      const digits = i;
      while (isHex(s[i])) i++;
      if (i === digits) throw this.error(at, `'${s.slice(start, i)}' is not a number: hexadecimal needs digits after 0x`);
    } else {
      while (isDigit(s[i])) i++;
      if (s[i] === '.') {
        kind = 'float';
        i++;
        while (isDigit(s[i])) i++;
      }
      if (s[i] === 'e' || s[i] === 'E') {
        kind = 'float';
        i++;
        if (s[i] === '+' || s[i] === '-') i++;
        const digits = i;
        while (isDigit(s[i])) i++;
        if (i === digits) throw this.error(at, `'${s.slice(start, i)}' is not a number: the exponent has no digits`);
      }
      if (s[i] === 'f' || s[i] === 'F') { kind = 'float'; i++; }
      const text = s.slice(start, i);
      if (kind === 'int' && text.length > 1 && text[0] === '0' && !/^0[0-7]+$/.test(text)) {
        throw this.error(at, `'${text}' is not a number: a leading 0 makes it octal, and octal digits are 0-7`);
      }
    }
    // COMPAT-NOTES §3.13: "A number token may not be immediately followed by an identifier".
    if (isIdentChar(s[i]) || s[i] === '.') {
      let j = i;
      while (isIdentChar(s[j]) || s[j] === '.') j++;
      throw this.error(at, `'${s.slice(start, j)}' is not a number: a number must be followed by a space, ',' or ']', not '${s[i]}'`);
    }
    this.#pos = i;
    return { kind, text: s.slice(start, i), ...at };
  }

  #string(at: { line: number; col: number }): Token {
    const s = this.#src;
    const start = this.#pos;
    const quote = s[start];
    const bytes: number[] = [];
    let i = start + 1;
    const unterminated = () => this.error(at, `unterminated string: missing the closing ${quote}`);
    for (;;) {
      if (i >= s.length) throw unterminated();
      const ch = s[i];
      if (ch === quote) { i++; break; }
      if (ch === '\n') throw this.error(at, 'unterminated string: a string cannot span lines (write \\n for a newline)');
      if (ch !== '\\') {
        const cp = s.codePointAt(i) ?? 0;
        if (cp >= 0xd800 && cp <= 0xdfff) throw this.error(at, 'string holds an unpaired UTF-16 surrogate');
        utf8(cp, bytes);
        i += cp > 0xffff ? 2 : 1;
        continue;
      }
      // Escape sequence. Columns in messages point at the backslash.
      const escAt = { line: at.line, col: i - this.#lineStart + 1 };
      const e = s[i + 1];
      if (e === undefined) throw unterminated();
      if (e in SIMPLE_ESCAPES) { bytes.push(SIMPLE_ESCAPES[e]); i += 2; continue; }
      if (isOctal(e)) {
        let j = i + 1;
        while (j < i + 4 && isOctal(s[j])) j++;
        const v = parseInt(s.slice(i + 1, j), 8);
        if (v > 255) throw this.error(escAt, `octal escape '${s.slice(i, j)}' is larger than \\377`);
        bytes.push(v);
        i = j;
        continue;
      }
      if (e === 'x' || e === 'X') {
        let j = i + 2;
        while (j < i + 4 && isHex(s[j])) j++;
        if (j === i + 2) throw this.error(escAt, "invalid escape '\\x': it needs one or two hex digits");
        bytes.push(parseInt(s.slice(i + 2, j), 16));
        i = j;
        continue;
      }
      if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = s.slice(i + 2, i + 2 + n);
        if (hex.length !== n || ![...hex].every(isHex)) {
          throw this.error(escAt, `invalid escape '\\${e}${hex}': it needs exactly ${n} hex digits`);
        }
        let cp = parseInt(hex, 16);
        i += 2 + n;
        if (cp >= 0xd800 && cp <= 0xdbff && s[i] === '\\' && s[i + 1] === 'u') {
          const low = parseInt(s.slice(i + 2, i + 6), 16);
          if (low >= 0xdc00 && low <= 0xdfff && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
          }
        }
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
          throw this.error(escAt, `invalid escape: U+${cp.toString(16).toUpperCase()} is not a Unicode scalar value`);
        }
        utf8(cp, bytes);
        continue;
      }
      throw this.error(escAt, `invalid escape sequence '\\${e}' in string (valid: \\n \\t \\r \\\\ \\' \\" \\ooo \\xHH \\uHHHH \\UHHHHHHHH)`);
    }
    this.#pos = i;
    return { kind: 'string', text: s.slice(start, i), bytes, ...at };
  }
}
