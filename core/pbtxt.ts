/**
 * Protobuf text format (`config.pbtxt`) schema-driven parser (tokens: core/pbtxt-lexer.ts).
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
import { Lexer, type Token } from './pbtxt-lexer.ts';

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

const TRUE_WORDS = new Set(['true', 'True', 't']);
const FALSE_WORDS = new Set(['false', 'False', 'f']);

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
      const bytes = t.bytes ?? [];
      // A loop, not push(...next): a long string would exceed the engine's argument limit.
      while (lex.peek().kind === 'string') for (const b of lex.next().bytes ?? []) bytes.push(b);
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
