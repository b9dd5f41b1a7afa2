/**
 * The protobuf text-format parser (core/pbtxt.ts) against a small test schema, so each rule
 * of COMPAT-NOTES §3.13 is tested on its own: tokens, lists, maps, oneofs, errors with
 * line:column, and the limits.
 */
import { describe, expect, it } from 'vitest';
import { parsePbtxt, type PbtxtLimits } from '../../core/pbtxt.ts';
import { enumType, field, mapField, messageType } from '../../core/proto-descriptor.ts';
import { isInferError } from '../../protocol/errors.ts';

const Color = enumType('Color', ['RED', 'GREEN', 'BLUE']);
const Inner = messageType('Inner', [
  field('label', 1, 'string'),
  field('n', 2, 'int32'),
  field('tags', 3, 'string', { repeated: true }),
]);
const Node = messageType('Node', [field('inner', 1, Inner), field('id', 2, 'int32')]);
const Test = messageType('Test', [
  field('s', 1, 'string'),
  field('b', 2, 'bool'),
  field('i32', 3, 'int32'),
  field('u32', 4, 'uint32'),
  field('i64', 5, 'int64'),
  field('u64', 6, 'uint64'),
  field('f', 7, 'float'),
  field('d', 8, 'double'),
  field('color', 9, Color),
  field('ints', 10, 'int64', { repeated: true }),
  field('floats', 11, 'float', { repeated: true }),
  field('bools', 12, 'bool', { repeated: true }),
  field('colors', 13, Color, { repeated: true }),
  field('inner', 14, Inner),
  field('items', 15, Inner, { repeated: true }),
  mapField('labels', 16, 'string', 'string'),
  mapField('byLevel', 17, 'uint64', Inner),
  field('first', 18, Inner, { oneof: 'choice' }),
  field('second', 19, 'string', { oneof: 'choice' }),
  field('nodes', 20, Node, { repeated: true }),
  field('strs', 21, 'string', { repeated: true }),
]);

// A chain of 40 message types, each holding the next as `child`, to test the depth limit.
let Deep = messageType('Level40', [field('v', 1, 'int32')]);
for (let i = 39; i >= 0; i--) Deep = messageType(`Level${i}`, [field('v', 1, 'int32'), field('child', 2, Deep)]);

const parse = (text: string, limits?: Partial<PbtxtLimits>) => parsePbtxt(text, Test, { file: 'test.pbtxt', limits });

/** The error a parse throws; fails the test when it does not throw or throws something else. */
function errorOf(text: string, limits?: Partial<PbtxtLimits>): string {
  try {
    parse(text, limits);
  } catch (e) {
    expect(isInferError(e)).toBe(true);
    expect((e as { code: string }).code).toBe('INVALID_ARG');
    return (e as Error).message;
  }
  throw new Error(`expected a parse error for: ${text}`);
}

describe('pbtxt: whitespace, comments and separators', () => {
  it('accepts every whitespace character, # comments anywhere and CRLF line ends', () => {
    const text = '# leading comment\r\ns: "x"\t# trailing\r\n\v\fi32:\n  # between colon and value\n  5\n';
    expect(parse(text)).toEqual({ s: 'x', i32: 5 });
  });

  it('accepts optional ; and , after fields, including at the end', () => {
    expect(parse('s: "a"; i32: 1, b: true;')).toEqual({ s: 'a', i32: 1, b: true });
    expect(parse('inner { label: "x"; n: 2, };')).toEqual({ inner: { label: 'x', n: 2 } });
  });

  it('parses an empty input to an empty message', () => {
    expect(parse('')).toEqual({});
    expect(parse('  # only a comment\n')).toEqual({});
  });

  it('skips a UTF-8 byte-order mark without shifting columns', () => {
    expect(parse('\uFEFFs: "x"')).toEqual({ s: 'x' });
    expect(errorOf('\uFEFFbogus: 1')).toMatch(/^test\.pbtxt:1:1: unknown field 'bogus'/);
  });
});

describe('pbtxt: integers', () => {
  it('reads decimal, octal and hex, with a minus sign (also spaced from the number)', () => {
    expect(parse('i32: 42 u32: 010 i64: 0x1F')).toEqual({ i32: 42, u32: 8, i64: 31 });
    expect(parse('i32: -0x10 i64: -017')).toEqual({ i32: -16, i64: -15 });
    expect(parse('i32: - 5')).toEqual({ i32: -5 });
    expect(parse('i32: 0')).toEqual({ i32: 0 });
    expect(parse('i64: 0XfF')).toEqual({ i64: 255 });
  });

  it('checks ranges per type', () => {
    expect(parse('i32: 2147483647')).toEqual({ i32: 2147483647 });
    expect(parse('i32: -2147483648')).toEqual({ i32: -2147483648 });
    expect(errorOf('i32: 2147483648')).toMatch(/^test\.pbtxt:1:6: bad value for field 'i32': 2147483648 is out of range for int32/);
    expect(errorOf('u32: -1')).toMatch(/^test\.pbtxt:1:6: bad value for field 'u32': -1 is negative, but the field is uint32/);
    expect(parse('u64: 9007199254740991')).toEqual({ u64: 9007199254740991 });
    expect(errorOf('u64: 9007199254740993')).toMatch(/beyond ±2\^53/);
    expect(errorOf('i64: 0x8000000000000000')).toMatch(/out of range for int64/);
  });

  it('refuses floats, strings and identifiers in integer fields', () => {
    expect(errorOf('i32: 1.5')).toBe("test.pbtxt:1:6: expected an integer (int32) for field 'i32', got the floating-point number '1.5'");
    expect(errorOf('i32: 1e3')).toMatch(/floating-point number '1e3'/);
    expect(errorOf('i32: 10f')).toMatch(/floating-point number '10f'/);
    expect(errorOf('i32: "5"')).toBe("test.pbtxt:1:6: expected an integer (int32) for field 'i32', got the string \"5\"");
    expect(errorOf('i32: five')).toMatch(/got 'five'/);
  });
});

describe('pbtxt: floats', () => {
  it('reads every float form', () => {
    expect(parse('floats: [1.0, .5, 1e3, 10f, 1.5F, 2., 1.25e-2, 3E+2, .5f, 7, 010, 0x10]').floats)
      .toEqual([1, 0.5, 1000, 10, 1.5, 2, 0.0125, 300, 0.5, 7, 8, 16]);
  });

  it('reads inf, infinity and nan case-insensitively, with a sign', () => {
    const v = parse('floats: [inf, -inf, Infinity, -INFINITY, INF]').floats as number[];
    expect(v).toEqual([Infinity, -Infinity, Infinity, -Infinity, Infinity]);
    expect(Number.isNaN(parse('d: nan').d)).toBe(true);
    expect(Number.isNaN(parse('d: NaN').d)).toBe(true);
    expect(parse('f: -2.5 d: - 0.25')).toEqual({ f: -2.5, d: -0.25 });
  });

  it('refuses non-numbers in float fields', () => {
    expect(errorOf('f: "1.0"')).toBe("test.pbtxt:1:4: expected a number for field 'f', got the string \"1.0\"");
    expect(errorOf('f: infinit')).toMatch(/expected a number for field 'f', got 'infinit'/);
  });
});

describe('pbtxt: number tokens', () => {
  it('refuses a number immediately followed by an identifier (10bar)', () => {
    expect(errorOf('i32: 10bar')).toBe("test.pbtxt:1:6: '10bar' is not a number: a number must be followed by a space, ',' or ']', not 'b'");
    expect(errorOf('ints: [1, 2x]')).toMatch(/^test\.pbtxt:1:11: '2x' is not a number/);
    expect(errorOf('f: 1.5.3')).toMatch(/^test\.pbtxt:1:4: '1\.5\.3' is not a number/);
    expect(errorOf('f: 1.5fx')).toMatch(/'1\.5fx' is not a number/);
  });

  it('refuses malformed numbers', () => {
    expect(errorOf('i32: 09')).toBe("test.pbtxt:1:6: '09' is not a number: a leading 0 makes it octal, and octal digits are 0-7");
    expect(errorOf('i32: 0x')).toMatch(/hexadecimal needs digits after 0x/);
    expect(errorOf('f: 1e')).toMatch(/^test\.pbtxt:1:4: '1e' is not a number: the exponent has no digits/);
    expect(errorOf('f: 1e+')).toMatch(/the exponent has no digits/);
  });
});

describe('pbtxt: strings', () => {
  it('reads single and double quotes and C escapes', () => {
    expect(parse(String.raw`s: 'it\'s "q"'`).s).toBe('it\'s "q"');
    expect(parse(String.raw`s: "a\nb\tc\\d\"e\'f\?g\a\b\f\v\r"`).s).toBe('a\nb\tc\\d"e\'f?g\x07\b\f\v\r');
    expect(parse(String.raw`s: "\101\102\0\7"`).s).toBe('AB\0\x07');
    expect(parse(String.raw`s: "\x41\x4a\x7"`).s).toBe('AJ\x07');
    expect(parse(String.raw`s: "\u00e9\u4e2d"`).s).toBe('é中');
    expect(parse(String.raw`s: "\U0001F600"`).s).toBe('😀');
    expect(parse(String.raw`s: "\ud83d\ude00"`).s).toBe('😀');
  });

  it('keeps non-ASCII text as is', () => {
    expect(parse('s: "naïve — 日本 😀"').s).toBe('naïve — 日本 😀');
  });

  it('concatenates adjacent strings, at the byte level', () => {
    expect(parse(`s: "a" 'b'\n  "c" # comment\n "d"`).s).toBe('abcd');
    expect(parse(String.raw`s: "\xc3" "\xa9"`).s).toBe('é');
    expect(parse('strs: ["a" "b", "c"]').strs).toEqual(['ab', 'c']);
  });

  it('handles long strings and long concatenations', () => {
    const long = 'x'.repeat(300_000);
    expect((parse(`s: "${long}" "${long}"`).s as string).length).toBe(600_000);
  });

  it('reports unterminated strings and bad escapes with their position', () => {
    expect(errorOf('i32: 1\ns: "abc')).toBe('test.pbtxt:2:4: unterminated string: missing the closing "');
    expect(errorOf("s: 'abc\"")).toBe("test.pbtxt:1:4: unterminated string: missing the closing '");
    expect(errorOf('s: "abc\ndef"')).toBe('test.pbtxt:1:4: unterminated string: a string cannot span lines (write \\n for a newline)');
    expect(errorOf(String.raw`s: "ab\qc"`)).toMatch(/^test\.pbtxt:1:7: invalid escape sequence '\\q' in string/);
    expect(errorOf(String.raw`s: "\x"`)).toMatch(/^test\.pbtxt:1:5: invalid escape '\\x': it needs one or two hex digits/);
    expect(errorOf(String.raw`s: "\u12"`)).toMatch(/needs exactly 4 hex digits/);
    expect(errorOf(String.raw`s: "\U00110000"`)).toMatch(/U\+110000 is not a Unicode scalar value/);
    expect(errorOf(String.raw`s: "\ud800"`)).toMatch(/U\+D800 is not a Unicode scalar value/);
    expect(errorOf(String.raw`s: "\777"`)).toMatch(/octal escape '\\777' is larger than \\377/);
    expect(errorOf(String.raw`s: "\xff"`)).toBe("test.pbtxt:1:4: string for field 's' is not valid UTF-8 (check its \\x and octal escapes)");
  });

  it('requires quotes for string fields', () => {
    expect(errorOf('s: hello')).toBe("test.pbtxt:1:4: expected a quoted string for field 's', got 'hello' (strings need quotes)");
    expect(errorOf('s: 5')).toMatch(/expected a quoted string for field 's', got '5'/);
  });
});

describe('pbtxt: booleans and enums', () => {
  it('reads every boolean spelling', () => {
    expect(parse('bools: [true, True, t, 1, false, False, f, 0]').bools).toEqual([true, true, true, true, false, false, false, false]);
    expect(errorOf('b: yes')).toBe("test.pbtxt:1:4: expected true or false for field 'b', got 'yes'");
    expect(errorOf('b: 2')).toMatch(/expected true or false for field 'b', got '2'/);
    expect(errorOf('b: TRUE')).toMatch(/got 'TRUE'/);
  });

  it('reads enums by name or number', () => {
    expect(parse('color: BLUE colors: [RED, 1, GREEN] colors: 2')).toEqual({ color: 'BLUE', colors: ['RED', 'GREEN', 'GREEN', 'BLUE'] });
  });

  it('reports unknown enum names (with a suggestion) and numbers', () => {
    expect(errorOf('color: BLEU')).toBe("test.pbtxt:1:8: unknown value 'BLEU' for field 'color' (enum Color) (did you mean 'BLUE'?); expected one of RED, GREEN, BLUE");
    expect(errorOf('color: 7')).toBe("test.pbtxt:1:8: 7 is not a value of enum Color (field 'color')");
    expect(errorOf('color: -1')).toMatch(/-1 is not a value of enum Color/);
    expect(errorOf('color: "RED"')).toMatch(/expected a value of enum Color for field 'color', got the string "RED"/);
  });
});

describe('pbtxt: messages and lists', () => {
  it('accepts {} and <> delimiters, with or without a colon', () => {
    const want = { inner: { label: 'x', n: 1 } };
    expect(parse('inner { label: "x" n: 1 }')).toEqual(want);
    expect(parse('inner: { label: "x" n: 1 }')).toEqual(want);
    expect(parse('inner < label: "x" n: 1 >')).toEqual(want);
    expect(parse('inner: <label: "x", n: 1>')).toEqual(want);
    expect(parse('inner {}')).toEqual({ inner: {} });
  });

  it('accepts lists of scalars and of messages, repeats, and any mix, keeping order', () => {
    expect(parse('ints: 1 ints: [2, 3] ints: 4 ints: []').ints).toEqual([1, 2, 3, 4]);
    expect(parse('ints: []')).toEqual({ ints: [] });
    const items = parse('items { n: 1 } items [ { n: 2 }, < n: 3 > ] items: [] items: { n: 4 }').items;
    expect(items).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it('allows comments inside lists and messages', () => {
    const text = 'ints: [ # first\n 1, # one\n 2 # two\n ]\nitems [\n  # an item\n  { n: 1 } # done\n]';
    expect(parse(text)).toEqual({ ints: [1, 2], items: [{ n: 1 }] });
  });

  it('nests messages', () => {
    expect(parse('nodes [ { id: 1 inner { tags: ["a", "b"] } }, { id: 2 } ]')).toEqual({
      nodes: [{ id: 1, inner: { tags: ['a', 'b'] } }, { id: 2 }],
    });
  });

  it('reports a missing colon for a scalar field at the token that should be a colon', () => {
    expect(errorOf('s: "x"\ni32 5')).toBe("test.pbtxt:2:5: expected ':' after field 'i32', got '5'");
    expect(errorOf('ints [1, 2]')).toBe("test.pbtxt:1:6: expected ':' after field 'ints', got '['");
    expect(errorOf('i32 { }')).toBe("test.pbtxt:1:5: expected ':' after field 'i32', got '{' ('i32' is int32, not a message)");
  });

  it('reports list syntax errors', () => {
    expect(errorOf('ints: [1 2]')).toBe("test.pbtxt:1:10: expected ',' or ']' in the list of 'ints', got '2'");
    expect(errorOf('ints: [1, 2,]')).toMatch(/^test\.pbtxt:1:13: expected an integer \(int64\) for field 'ints', got '\]'/);
    expect(errorOf('ints: [1, 2')).toMatch(/^test\.pbtxt:1:12: expected ',' or '\]' in the list of 'ints', got the end of the file/);
    expect(errorOf('i32: [1]')).toBe("test.pbtxt:1:6: field 'i32' of Test is not repeated: give one value, not a [ ] list");
    expect(errorOf('inner [ { n: 1 } ]')).toMatch(/field 'inner' of Test is not repeated/);
  });

  it('reports unbalanced and mismatched delimiters', () => {
    expect(errorOf('inner {\n  n: 1\n')).toBe("test.pbtxt:3:1: expected '}' to close 'inner' opened at 1:7, but the file ended");
    expect(errorOf('inner { n: 1 >')).toBe("test.pbtxt:1:14: expected '}' to close 'inner' opened at 1:7, got '>'");
    expect(errorOf('inner < n: 1 }')).toMatch(/expected '>' to close 'inner' opened at 1:7, got '}'/);
    expect(errorOf('s: "x" }')).toBe("test.pbtxt:1:8: unexpected '}': no message is open here");
    expect(errorOf('inner: 5')).toBe("test.pbtxt:1:8: expected '{' or '<' to start message field 'inner' (Inner), got '5'");
  });

  it('reports unexpected characters and // comments', () => {
    expect(errorOf('s: "x" // note')).toBe("test.pbtxt:1:8: unexpected '/': comments in the protobuf text format start with '#'");
    expect(errorOf('i32: 1 @')).toBe('test.pbtxt:1:8: unexpected character "@"');
    expect(errorOf('[ext.field]: 1')).toMatch(/extension and Any field names/);
    expect(errorOf('5: 1')).toBe("test.pbtxt:1:1: expected a field name of Test, got '5'");
  });
});

describe('pbtxt: field rules', () => {
  it('reports unknown fields with a suggestion for near misses', () => {
    expect(errorOf('s: "x"\n  colour: RED')).toBe("test.pbtxt:2:3: unknown field 'colour' in Test (did you mean 'color'?)");
    expect(errorOf('inner { lable: "x" }')).toBe("test.pbtxt:1:9: unknown field 'lable' in Inner (did you mean 'label'?)");
    expect(errorOf('zzzzzz: 1')).toBe("test.pbtxt:1:1: unknown field 'zzzzzz' in Test");
  });

  it('refuses a second value for a non-repeated field, scalar or message', () => {
    expect(errorOf('i32: 1\ni32: 2')).toBe("test.pbtxt:2:1: non-repeated field 'i32' of Test is specified multiple times; keep one");
    expect(errorOf('inner { } inner { }')).toMatch(/^test\.pbtxt:1:11: non-repeated field 'inner'/);
    // ... but the same field in two different messages is fine.
    expect(parse('items { n: 1 } items { n: 2 }').items).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('refuses two members of a oneof', () => {
    expect(parse('first { n: 1 }')).toEqual({ first: { n: 1 } });
    expect(parse('second: "x"')).toEqual({ second: 'x' });
    expect(errorOf('first { n: 1 }\nsecond: "x"')).toBe("test.pbtxt:2:1: 'second' and 'first' are both set, but they are members of oneof 'choice' in Test; keep only one");
  });
});

describe('pbtxt: maps', () => {
  it('reads map entries as repeated { key value } messages, with list syntax too', () => {
    expect(parse('labels { key: "a" value: "1" } labels: [ { key: "b" value: "2" }, < key: "c", value: "3" > ]').labels)
      .toEqual({ a: '1', b: '2', c: '3' });
  });

  it('keys integer maps by the decimal string of the key', () => {
    expect(parse('byLevel { key: 1 value { n: 10 } } byLevel { key: 0x2 value: { n: 20 } }').byLevel)
      .toEqual({ 1: { n: 10 }, 2: { n: 20 } });
    expect(errorOf('byLevel { key: -1 value { } }')).toMatch(/-1 is negative, but the field is uint64/);
  });

  it('lets the last duplicate key win', () => {
    expect(parse('labels { key: "a" value: "1" } labels { key: "a" value: "2" }').labels).toEqual({ a: '2' });
  });

  it('defaults a missing key or value', () => {
    expect(parse('labels { value: "v" } byLevel { key: 3 }')).toEqual({ labels: { '': 'v' }, byLevel: { 3: {} } });
  });

  it('stores a __proto__ key as data, never as a prototype', () => {
    const out = parse('labels { key: "__proto__" value: "x" }');
    const labels = out.labels as Record<string, unknown>;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(JSON.stringify(out)).toBe('{"labels":{"__proto__":"x"}}');
  });

  it('reports bad entries', () => {
    expect(errorOf('labels { key: "a" val: "1" }')).toBe("test.pbtxt:1:19: unknown field 'val' in Test.labels entry (did you mean 'value'?)");
    expect(errorOf('labels: "a"')).toBe("test.pbtxt:1:9: expected '{' or '<' to start an entry of map field 'labels', got the string \"a\"");
  });
});

describe('pbtxt: limits', () => {
  it('refuses input larger than maxChars', () => {
    expect(errorOf('s: "0123456789"', { maxChars: 10 })).toBe('test.pbtxt: 15 characters is more than the 10 allowed for a text-format file');
  });

  it('refuses more tokens than maxTokens', () => {
    expect(errorOf('ints: [1, 2, 3, 4, 5]', { maxTokens: 8 })).toBe('test.pbtxt:1:15: more than 8 tokens; a model configuration is never this large');
  });

  it('refuses nesting deeper than maxDepth, and accepts it up to the limit', () => {
    const nest = (n: number) => `${'child { '.repeat(n)}v: 1${' }'.repeat(n)}`;
    expect(() => parsePbtxt(nest(32), Deep)).not.toThrow();
    let message = '';
    try { parsePbtxt(nest(33), Deep, { file: 'deep.pbtxt' }); } catch (e) { message = (e as Error).message; }
    expect(message).toBe('deep.pbtxt:1:263: messages are nested more than 32 levels deep');
    const shallow = parsePbtxt(nest(3), Deep, { limits: { maxDepth: 3 } });
    expect(shallow).toEqual({ child: { child: { child: { v: 1 } } } });
    expect(() => parsePbtxt(nest(4), Deep, { limits: { maxDepth: 3 } })).toThrow(/nested more than 3 levels deep/);
  });

  it('handles a hostile deep input quickly with the default limits', () => {
    const hostile = 'child { '.repeat(100_000);
    expect(() => parsePbtxt(hostile, Deep)).toThrow(/nested more than 32 levels deep/);
  });
});
