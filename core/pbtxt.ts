/**
 * Protobuf text format (`config.pbtxt`) tokenizer and schema-driven parser.
 *
 * Grammar: protobuf.dev text-format spec, as COMPAT-NOTES §3.13 summarises it. Triton reads
 * configs with `TextFormat::ParseFromString`, which is strict, so this parser is too: unknown
 * fields, a second value for a non-repeated field, two members of a oneof, `[...]` on a
 * non-repeated field, and `10bar` are all errors. Every error is INVALID_ARG and names
 * `file:line:column` and what was expected there.
 *
 * The result is a plain object in protobuf-JSON shape (snake_case keys, enum names, arrays
 * for repeated fields, objects keyed by string for maps) holding only the fields the text
 * gives: defaults are core/model-config-normalize.ts's job.
 *
 * Hand-written because `core/` may not import npm packages and no small, dependency-free
 * text-format parser with good error positions exists.
 */
import { InferError } from '../protocol/errors.ts';
import {
  checkInt, didYouMean, didYouMeanEnum, isIntScalar, messageType, scalarDefault, setOwn,
  type FieldDescriptor, type MessageDescriptor, type ScalarType,
} from './proto-descriptor.ts';

/** Bounds on untrusted text: a config file is small, so anything far larger is refused early. */
export interface PbtxtLimits {
  /** Longest accepted input, in UTF-16 code units (about bytes for ASCII configs). */
  maxChars: number;
  /** Deepest message nesting (`{` inside `{`); the deepest real ModelConfig path is about 6. */
  maxDepth: number;
  /** Most tokens read before giving up. */
  maxTokens: number;
}

/**
 * Defaults generous for any real config (Triton's largest ensembles are tens of KB) and small
 * enough that a hostile file cannot make the parser spend much time or memory. 32 levels is
 * well under protobuf's own default recursion limit of 100.
 */
export const DEFAULT_PBTXT_LIMITS: Readonly<PbtxtLimits> = { maxChars: 1 << 20, maxDepth: 32, maxTokens: 250_000 };

/** Options of `parsePbtxt`. */
export interface PbtxtOptions {
  /** Named in error messages (`config.pbtxt:3:7: ...`). */
  file?: string;
  limits?: Partial<PbtxtLimits>;
}

type TokenKind = 'ident' | 'int' | 'float' | 'string' | 'symbol' | 'eof';

interface Token {
  kind: TokenKind;
  /** Source text (for strings: including the quotes). */
  text: string;
  /** For strings: the bytes after escapes are applied (protobuf strings are bytes, UTF-8 checked). */
  bytes?: number[];
  line: number;
  col: number;
}

const SYMBOLS = '{}<>[]:,;-';
const TRUE_WORDS = new Set(['true', 'True', 't']);
const FALSE_WORDS = new Set(['false', 'False', 'f']);
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
class Lexer {
  readonly #src: string;
  readonly #file: string;
  readonly #maxTokens: number;
  #pos = 0;
  #line = 1;
  #lineStart = 0;
  #count = 0;
  #peeked: Token | undefined;

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

  peek(): Token {
    this.#peeked ??= this.#scan();
    return this.#peeked;
  }

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

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function describe(t: Token): string {
  if (t.kind === 'eof') return 'the end of the file';
  if (t.kind === 'string') return `the string ${t.text.length > 40 ? `${t.text.slice(0, 37)}...` : t.text}`;
  return `'${t.text}'`;
}

function typeName(f: FieldDescriptor): string {
  if (f.type.kind === 'scalar') return f.type.scalar;
  if (f.type.kind === 'enum') return `enum ${f.type.enumType.name}`;
  return f.type.message.name;
}

const mapEntries = new WeakMap<FieldDescriptor, MessageDescriptor>();

/** The synthetic `{ key, value }` entry message of a map field (how maps appear in text format). */
function mapEntryOf(f: FieldDescriptor, owner: MessageDescriptor): MessageDescriptor {
  let d = mapEntries.get(f);
  if (!d) {
    d = messageType(`${owner.name}.${f.name} entry`, [
      { name: 'key', number: 1, label: 'singular', type: { kind: 'scalar', scalar: f.mapKey ?? 'string' } },
      { name: 'value', number: 2, label: 'singular', type: f.type },
    ]);
    mapEntries.set(f, d);
  }
  return d;
}

class Parser {
  readonly #lex: Lexer;
  readonly #limits: PbtxtLimits;

  constructor(lex: Lexer, limits: PbtxtLimits) {
    this.#lex = lex;
    this.#limits = limits;
  }

  /** Fields up to `close` (or the end of input for the top level). */
  message(desc: MessageDescriptor, close: '}' | '>' | null, open: Token | undefined, depth: number, what: string): Record<string, unknown> {
    const lex = this.#lex;
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    const oneofMember = new Map<string, string>();
    for (;;) {
      const tok = lex.peek();
      if (close === null ? tok.kind === 'eof' : tok.kind === 'symbol' && tok.text === close) {
        lex.next();
        return obj;
      }
      if (tok.kind === 'eof') {
        throw lex.error(tok, `expected '${close}' to close ${what} opened at ${open?.line}:${open?.col}, but the file ended`);
      }
      if (tok.kind === 'symbol' && (tok.text === '}' || tok.text === '>')) {
        throw lex.error(tok, close === null
          ? `unexpected '${tok.text}': no message is open here`
          : `expected '${close}' to close ${what} opened at ${open?.line}:${open?.col}, got '${tok.text}'`);
      }
      if (tok.kind === 'symbol' && tok.text === '[') {
        throw lex.error(tok, 'extension and Any field names in [...] are not part of a model configuration');
      }
      if (tok.kind !== 'ident') throw lex.error(tok, `expected a field name of ${desc.name}, got ${describe(tok)}`);
      lex.next();
      const f = desc.byName.get(tok.text);
      if (!f) throw lex.error(tok, `unknown field '${tok.text}' in ${desc.name}${didYouMean(tok.text, desc.byName.keys())}`);
      if (f.label === 'singular') {
        // protobuf: "Non-repeated field ... is specified multiple times".
        if (seen.has(f.name)) throw lex.error(tok, `non-repeated field '${f.name}' of ${desc.name} is specified multiple times; keep one`);
        seen.add(f.name);
        if (f.oneof) {
          const other = oneofMember.get(f.oneof);
          if (other) {
            throw lex.error(tok, `'${f.name}' and '${other}' are both set, but they are members of oneof '${f.oneof}' in ${desc.name}; keep only one`);
          }
          oneofMember.set(f.oneof, f.name);
        }
      }
      this.#fieldValue(desc, f, obj, depth);
      const sep = lex.peek();
      if (sep.kind === 'symbol' && (sep.text === ';' || sep.text === ',')) lex.next();
    }
  }

  #fieldValue(desc: MessageDescriptor, f: FieldDescriptor, obj: Record<string, unknown>, depth: number): void {
    const lex = this.#lex;
    const isMessage = f.type.kind === 'message' || f.label === 'map';
    let t = lex.peek();
    if (isMessage) {
      // MessageField = name [":"] (MessageValue | MessageList)
      if (t.kind === 'symbol' && t.text === ':') { lex.next(); t = lex.peek(); }
    } else {
      // ScalarField = name ":" (ScalarValue | ScalarList): the colon is required.
      if (!(t.kind === 'symbol' && t.text === ':')) {
        const hint = t.kind === 'symbol' && (t.text === '{' || t.text === '<') ? ` ('${f.name}' is ${typeName(f)}, not a message)` : '';
        throw lex.error(t, `expected ':' after field '${f.name}', got ${describe(t)}${hint}`);
      }
      lex.next();
      t = lex.peek();
    }
    if (t.kind === 'symbol' && t.text === '[') {
      if (f.label === 'singular') {
        throw lex.error(t, `field '${f.name}' of ${desc.name} is not repeated: give one value, not a [ ] list`);
      }
      lex.next();
      if (lex.peek().kind === 'symbol' && lex.peek().text === ']') {
        lex.next();
        if (f.label === 'repeated') obj[f.name] ??= [];
        else obj[f.name] ??= {};
        return;
      }
      for (;;) {
        if (isMessage) this.#messageValue(desc, f, obj, depth);
        else this.#store(f, obj, this.#scalar(f));
        const sep = lex.next();
        if (sep.kind === 'symbol' && sep.text === ']') return;
        if (!(sep.kind === 'symbol' && sep.text === ',')) {
          throw lex.error(sep, `expected ',' or ']' in the list of '${f.name}', got ${describe(sep)}`);
        }
      }
    }
    if (isMessage) this.#messageValue(desc, f, obj, depth);
    else this.#store(f, obj, this.#scalar(f));
  }

  #store(f: FieldDescriptor, obj: Record<string, unknown>, v: unknown): void {
    if (f.label === 'repeated') ((obj[f.name] ??= []) as unknown[]).push(v);
    else obj[f.name] = v;
  }

  #messageValue(desc: MessageDescriptor, f: FieldDescriptor, obj: Record<string, unknown>, depth: number): void {
    const lex = this.#lex;
    const open = lex.next();
    if (!(open.kind === 'symbol' && (open.text === '{' || open.text === '<'))) {
      const what = f.label === 'map' ? `an entry of map field '${f.name}'` : `message field '${f.name}' (${typeName(f)})`;
      throw lex.error(open, `expected '{' or '<' to start ${what}, got ${describe(open)}`);
    }
    if (depth + 1 > this.#limits.maxDepth) {
      throw lex.error(open, `messages are nested more than ${this.#limits.maxDepth} levels deep`);
    }
    const close = open.text === '{' ? '}' : '>';
    if (f.label === 'map') {
      const entry = this.message(mapEntryOf(f, desc), close, open, depth + 1, `the entry of '${f.name}'`);
      const keyType: ScalarType = f.mapKey ?? 'string';
      const key = String(entry.key ?? scalarDefault(keyType));
      let value = entry.value;
      if (value === undefined) {
        value = f.type.kind === 'message' ? {} : f.type.kind === 'enum' ? f.type.enumType.defaultName : scalarDefault(f.type.scalar);
      }
      const map = (obj[f.name] ??= {}) as Record<string, unknown>;
      setOwn(map, key, value); // last duplicate key wins (COMPAT-NOTES §3.13)
      return;
    }
    if (f.type.kind !== 'message') throw new Error('unreachable: scalar field parsed as message');
    const v = this.message(f.type.message, close, open, depth + 1, `'${f.name}'`);
    this.#store(f, obj, v);
  }

  /** One scalar or enum value (after the ':'), checked against the field's type. */
  #scalar(f: FieldDescriptor): unknown {
    const lex = this.#lex;
    const type = f.type;
    if (type.kind === 'enum') {
      const e = type.enumType;
      const t = lex.peek();
      if (t.kind === 'ident') {
        lex.next();
        if (e.byName.has(t.text)) return t.text;
        const names = [...e.byName.keys()];
        throw lex.error(t, `unknown value '${t.text}' for field '${f.name}' (enum ${e.name})${didYouMeanEnum(e, t.text)}; expected one of ${names.join(', ')}`);
      }
      if (t.kind === 'int' || (t.kind === 'symbol' && t.text === '-')) {
        const n = this.#integer(f, 'int32');
        const name = e.byNumber.get(n);
        if (name === undefined) throw lex.error(t, `${n} is not a value of enum ${e.name} (field '${f.name}')`);
        return name;
      }
      lex.next();
      throw lex.error(t, `expected a value of enum ${e.name} for field '${f.name}', got ${describe(t)}`);
    }
    const s = type.kind === 'scalar' ? type.scalar : 'string';
    if (s === 'string') {
      const t = lex.next();
      if (t.kind !== 'string') {
        const hint = t.kind === 'ident' ? ' (strings need quotes)' : '';
        throw lex.error(t, `expected a quoted string for field '${f.name}', got ${describe(t)}${hint}`);
      }
      // Adjacent strings concatenate ("a" 'b'), at the byte level as protobuf does.
      const bytes = [...(t.bytes ?? [])];
      while (lex.peek().kind === 'string') bytes.push(...(lex.next().bytes ?? []));
      try {
        return utf8Decoder.decode(Uint8Array.from(bytes));
      } catch {
        throw lex.error(t, `string for field '${f.name}' is not valid UTF-8 (check its \\x and octal escapes)`);
      }
    }
    if (s === 'bool') {
      const t = lex.next();
      if (t.kind === 'ident' && TRUE_WORDS.has(t.text)) return true;
      if (t.kind === 'ident' && FALSE_WORDS.has(t.text)) return false;
      if (t.kind === 'int' && (t.text === '1' || t.text === '0')) return t.text === '1';
      throw lex.error(t, `expected true or false for field '${f.name}', got ${describe(t)}`);
    }
    if (isIntScalar(s)) return this.#integer(f, s);
    return this.#float(f);
  }

  #integer(f: FieldDescriptor, s: 'int32' | 'uint32' | 'int64' | 'uint64'): number {
    const lex = this.#lex;
    const first = lex.next();
    let t = first;
    const negative = t.kind === 'symbol' && t.text === '-';
    if (negative) t = lex.next();
    if (t.kind !== 'int') {
      const what = t.kind === 'float' ? `the floating-point number '${t.text}'` : describe(t);
      throw lex.error(t, `expected an integer (${s}) for field '${f.name}', got ${what}`);
    }
    const text = t.text;
    const magnitude = /^0[0-7]+$/.test(text) ? BigInt(`0o${text.slice(1)}`) : BigInt(text);
    const r = checkInt(negative ? -magnitude : magnitude, s);
    if (typeof r === 'string') throw lex.error(first, `bad value for field '${f.name}': ${r}`);
    return r;
  }

  #float(f: FieldDescriptor): number {
    const lex = this.#lex;
    let t = lex.next();
    const negative = t.kind === 'symbol' && t.text === '-';
    if (negative) t = lex.next();
    let v: number;
    if (t.kind === 'float') v = Number(t.text.replace(/[fF]$/, ''));
    else if (t.kind === 'int') v = Number(/^0[0-7]+$/.test(t.text) ? parseInt(t.text, 8) : BigInt(t.text));
    else if (t.kind === 'ident' && /^(inf|infinity)$/i.test(t.text)) v = Infinity;
    else if (t.kind === 'ident' && /^nan$/i.test(t.text)) v = NaN;
    else throw lex.error(t, `expected a number for field '${f.name}', got ${describe(t)}`);
    return negative ? -v : v;
  }
}

/**
 * Parses protobuf text format against a message descriptor. Throws INVALID_ARG with
 * `file:line:column` on any syntax, type or schema error, or when a limit is exceeded.
 */
export function parsePbtxt(text: string, descriptor: MessageDescriptor, options: PbtxtOptions = {}): Record<string, unknown> {
  const file = options.file ?? 'input.pbtxt';
  const limits: PbtxtLimits = { ...DEFAULT_PBTXT_LIMITS, ...options.limits };
  if (text.length > limits.maxChars) {
    throw new InferError('INVALID_ARG', `${file}: ${text.length} characters is more than the ${limits.maxChars} allowed for a text-format file`);
  }
  const lex = new Lexer(text, file, limits.maxTokens);
  return new Parser(lex, limits).message(descriptor, null, undefined, 0, descriptor.name);
}
