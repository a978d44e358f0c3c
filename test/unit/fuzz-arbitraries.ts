// Generators of hostile input for the loader's property tests (loader-fuzz.test.ts): spec
// documents that are valid or nearly so and then mutated, pathological YAML, and bytes that
// may not be UTF-8. Sizes are kept to what runs a few hundred times in a few seconds; the
// limits themselves are tested with single large cases.

import fc from 'fast-check';
import { dump } from 'js-yaml';

/** Text that must never reach a problem raw: line breaks, escapes, NUL, C1, bidi, lone surrogates. */
const NASTY_UNITS = ['\n', '\r', '\r\n', '\u0000', '\u0007', '\u001b', '\u001b[2J', '\u009b', '\u0085', '\u202e', '\u200b', '\u2028', '\ufeff', '\ud800', '\udc00', "'", '"', '\\', ':', '#', '- ', ' ', 'a', 'Z', '9', '…'];

/** Keys and strings a spec author (or an attacker) might write. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...NASTY_UNITS), maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', '<<', '', ' ', '~', 'null', 'true', '0x10', '1e400', '.nan', 'imagePullPolicyy', 'spec') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('k', 'é', '\n', '🚀'), fc.integer({ min: 60, max: 40_000 })).map(([c, n]) => c.repeat(n)) },
);

/** A value nested `depth` levels deep, as lists or as mappings. */
export function nested(depth: number, kind: 'list' | 'map', leaf: unknown = 'x'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = kind === 'list' ? [v] : { a: v };
  return v;
}

/** Any JSON value, including wrong types for every field, nasty strings and deep nesting. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom('list' as const, 'map' as const)).map(([d, k]) => nested(d, k)) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 53, -0, 1e308, true, null, [], {}, '64Mi', '500m', '1e40', 'SIGTERM', 'SIGFOO', '/tmp', 'tmp') },
);

type Doc = Record<string, any>;

function validDoc(name: string): Doc {
  return {
    apiVersion: 'converge.dev/v1alpha1',
    kind: 'Container',
    metadata: { name, labels: { tier: 'front' } },
    spec: {
      image: 'localhost/busybox:latest',
      args: ['echo hi'],
      env: [{ name: 'GREETING', value: 'hello' }],
      restartPolicy: 'Always',
      stopSignal: 'SIGTERM',
      resources: { limits: { memory: '64Mi', cpu: '500m', pids: 256 } },
      mounts: [{ type: 'tmpfs', target: '/tmp', sizeLimit: '16Mi' }],
      dependsOn: ['db'],
      healthCheck: { exec: ['true'], periodSeconds: 10 },
    },
  };
}

/** Where mutations land: every level of the document, known fields and unknown ones. */
const PATHS: string[][] = [
  [], ['apiVersion'], ['kind'], ['metadata'], ['metadata', 'name'], ['metadata', 'namespace'], ['metadata', 'labels'],
  ['spec'], ['spec', 'image'], ['spec', 'args'], ['spec', 'args', '0'], ['spec', 'env'], ['spec', 'env', '0'], ['spec', 'env', '0', 'name'],
  ['spec', 'restartPolicy'], ['spec', 'stopSignal'], ['spec', 'resources', 'limits'], ['spec', 'resources', 'limits', 'memory'],
  ['spec', 'resources', 'limits', 'cpu'], ['spec', 'mounts'], ['spec', 'mounts', '0'], ['spec', 'mounts', '0', 'target'],
  ['spec', 'dependsOn'], ['spec', 'healthCheck'], ['spec', 'user'], ['spec', 'terminationGracePeriodSeconds'],
];

type Mutation = { op: 'set'; at: string[]; value: unknown } | { op: 'add'; at: string[]; key: string; value: unknown } | { op: 'delete'; at: string[] };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.constantFrom(...PATHS), value: anyValue }),
  fc.record({ op: fc.constant('add' as const), at: fc.constantFrom(...PATHS), key: nastyString, value: anyValue }),
  fc.record({ op: fc.constant('delete' as const), at: fc.constantFrom(...PATHS) }),
);

function apply(doc: Doc, m: Mutation): Doc {
  if (m.at.length === 0) return m.op === 'set' ? (structuredClone(m.value) as Doc) : m.op === 'add' ? { ...doc, [m.key]: structuredClone(m.value) } : doc;
  let parent: any = doc;
  for (const seg of m.at.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return doc;
    parent = parent[seg];
  }
  const last = m.at[m.at.length - 1];
  if (parent === null || typeof parent !== 'object') return doc;
  // Copies: a generated value may be used by several runs while fast-check shrinks.
  if (m.op === 'set') parent[last] = structuredClone(m.value);
  else if (m.op === 'delete') delete parent[last];
  else if (parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    Object.defineProperty(parent[last], m.key, { value: structuredClone(m.value), enumerable: true, configurable: true, writable: true });
  }
  return doc;
}

/** YAML as a person writes it (block style), or flow style (JSON, which YAML 1.2 also reads). */
export function serialize(value: unknown, style: 'block' | 'flow'): string {
  if (style === 'flow') return JSON.stringify(value) ?? 'null';
  try {
    return dump(value, { noRefs: true } as never);
  } catch {
    return JSON.stringify(value) ?? 'null'; // js-yaml will not dump some values (a lone surrogate)
  }
}

/** A file of one or more spec documents: valid ones, and ones with a few mutations each. */
export const specFile: fc.Arbitrary<{ path: string; text: string }> = fc
  .record({
    docs: fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/), fc.array(mutation, { maxLength: 4 })), { minLength: 1, maxLength: 3 }),
    style: fc.constantFrom('block' as const, 'flow' as const),
    json: fc.boolean(),
  })
  .map(({ docs, style, json }) => {
    const values = docs.map(([name, ms]) => ms.reduce(apply, validDoc(name)));
    if (json) return { path: 'spec.json', text: serialize(values[0], 'flow') };
    return { path: 'spec.yaml', text: values.map((v) => serialize(v, style)).join('\n---\n') };
  });

/** Aliases that would expand to width^depth nodes ("billion laughs"). */
const aliasBomb = fc.record({ width: fc.integer({ min: 2, max: 12 }), depth: fc.integer({ min: 1, max: 40 }) }).map(({ width, depth }) => {
  let text = 'a0: &a0 [lol, lol]\n';
  for (let i = 1; i <= depth; i++) text += `a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]\n`;
  return text;
});

/** Nesting far past the parser's depth limit, in flow and in block style. */
const deepNesting = fc.record({ depth: fc.integer({ min: 1, max: 3000 }), kind: fc.constantFrom('[', '{a: ', '- ', 'block') }).map(({ depth, kind }) => {
  if (kind === 'block') {
    const d = Math.min(depth, 300);
    return Array.from({ length: d }, (_, i) => `${'  '.repeat(i)}a:\n`).join('');
  }
  const close = kind === '[' ? ']' : kind === '{a: ' ? '}' : '';
  return `spec: ${kind.repeat(depth)}x${close.repeat(depth)}\n`;
});

const hugeScalar = fc.record({ n: fc.integer({ min: 0, max: 200_000 }), style: fc.constantFrom('', '"', "'", '|', 'key') }).map(({ n, style }) => {
  const body = 'x'.repeat(n);
  if (style === '|') return `spec:\n  image: |\n    ${body}\n`;
  if (style === 'key') return `spec:\n  ${body}: 1\n`;
  return `spec:\n  image: ${style}${body}${style}\n`;
});

/** YAML's own punctuation in random order: indicators, anchors, tags, directives, merges. */
const TOKENS = ['- ', ': ', ':', '? ', '[', ']', '{', '}', ', ', '&a ', '*a', '*b', '!!str ', '!!map ', '!x ', '!<tag:x> ', '|', '>-', '\n', '\n  ', '\n    ', '\t', '#c', '"', "'", '---\n', '...\n', '%YAML 1.2\n', '%TAG ! tag:x,2000:\n', '<<: ', 'key', 'spec', 'metadata', 'name', 'image', '\u0000', '\u001b', '\ud800', '\u2028', '\ufeff', '\\', '%'];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 120 }).map((t) => t.join(''));

/** Text that is YAML only by accident, or not at all. */
export const pathologicalYaml: fc.Arbitrary<string> = fc.oneof(
  aliasBomb,
  deepNesting,
  hugeScalar,
  tokenSoup,
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.tuple(specFile, fc.nat(), tokenSoup).map(([f, at, soup]) => f.text.slice(0, at % (f.text.length + 1)) + soup),
);

/** Bytes that are UTF-8 or nearly: ASCII, valid multi-byte characters, and ill-formed sequences. */
export const nearlyUtf8: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.constantFrom([0x0a], [0x20], [0x41], [0x3a], [0x2d], [0xef, 0xbb, 0xbf]),
      fc.constantFrom([0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x9a, 0x80], [0xed, 0x9f, 0xbf]),
      fc.integer({ min: 0x80, max: 0xff }).map((b) => [b]),
      fc.constantFrom([0xc0, 0xaf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x9a]),
    ),
    { maxLength: 200 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));
