// `converge run --config FILE`: a YAML (or JSON) mapping of the long flags' names to their
// values (`dir: [a, b]`, `log-level: debug`), read like a spec file (bounded, a regular file
// only, strict UTF-8) and checked by schemas/config.schema.json, which configSchema() makes
// from run's option table (a unit test keeps the committed file equal to it). A bad file is
// a ConfigError whose problems name the file, the line, the key and what was expected;
// an unknown key is one. Flags on the command line win over the file (run-flags.ts).

import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { ConvergeError } from '../errors.js';
import { DURATION_PATTERN } from '../duration.js';
import { fileProblem, formatProblem, readSpecFile } from '../spec/load.js';
import { MEMORY_PATTERN } from '../spec/quantity.js';
import { schemaIssues } from '../spec/schema.js';
import type { Problem } from '../spec/types.js';
import { isJsonPath, lineOf, parseDocuments } from '../spec/yaml.js';
import { COMMAND_LINE_ONLY, CONFIG_SHAPES, type ConfigValues, LOG_LEVELS, RUN_FLAGS, type RunFlag, type Shape } from './run-flags.js';

export const CONFIG_SCHEMA = 'config.schema.json';
const MAX_CONFIG_BYTES = 256 * 1024;

/** A config file that cannot be used; `problems` say every reason. */
export class ConfigError extends ConvergeError {
  declare readonly code: 'CONFIG_INVALID';
  constructor(readonly problems: Problem[]) {
    super('CONFIG_INVALID', `invalid config:\n  ${problems.map(formatProblem).join('\n  ')}`);
  }
}

type Option = NonNullable<ParseArgsConfig['options']>[string];

function valueSchema(option: Option, shape: Shape | undefined): Record<string, unknown> {
  if (option.type === 'boolean') return { type: 'boolean' };
  if (option.multiple) return { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
  switch (shape) {
    case 'duration':
      return { anyOf: [{ type: 'string', pattern: DURATION_PATTERN }, { type: 'number', minimum: 0 }] };
    case 'count':
      return { type: 'integer', minimum: 1 };
    case 'bytes':
      return { anyOf: [{ type: 'string', pattern: MEMORY_PATTERN }, { type: 'integer', minimum: 0 }] };
    case 'level':
      return { type: 'string', enum: [...LOG_LEVELS] };
    default:
      return { type: 'string' };
  }
}

/** The JSON Schema of a config file, from run's option table. */
export function configSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(RUN_FLAGS) as [RunFlag, Option][]) {
    if (COMMAND_LINE_ONLY.includes(name)) continue;
    const fallback = (option as { default?: unknown }).default;
    const shown = fallback === undefined || (Array.isArray(fallback) && fallback.length === 0) ? '' : ` (default ${JSON.stringify(fallback)})`;
    properties[name] = { description: `--${name}${shown}`, ...valueSchema(option, CONFIG_SHAPES[name]) };
  }
  return {
    title: 'converge run --config',
    description: 'The long flags of `converge run` as keys, e.g. `dir: [/etc/converge/specs]`, `log-level: debug`. Flags on the command line win. Generated from the option table (src/cli/run-flags.ts); relative paths are relative to the file.',
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

/** The document's values as flags take them: numbers as text, paths resolved against the file's directory. */
function toValues(file: string, doc: Record<string, unknown>): ConfigValues {
  const base = path.dirname(path.resolve(file));
  const out: ConfigValues = {};
  for (const [key, raw] of Object.entries(doc) as [RunFlag, unknown][]) {
    const isPath = CONFIG_SHAPES[key] === 'path';
    const text = (v: unknown): string => (isPath ? path.resolve(base, String(v)) : String(v));
    if (typeof raw === 'boolean') out[key] = raw;
    else if ((RUN_FLAGS[key] as Option).multiple) out[key] = (Array.isArray(raw) ? raw : [raw]).map(text);
    else out[key] = text(raw);
  }
  return out;
}

/** The config in `text` (read from `file`); throws ConfigError. */
export function parseConfig(file: string, text: string): ConfigValues {
  let docs;
  try {
    docs = parseDocuments(text, { json: isJsonPath(file), maxBytes: MAX_CONFIG_BYTES }).filter((d) => d.value !== null);
  } catch (err) {
    throw new ConfigError([fileProblem(file, err)]);
  }
  if (docs.length === 0) return {}; // an empty file (or only comments) sets nothing
  if (docs.length > 1) throw new ConfigError([{ file, path: '', message: `must hold one mapping of flag names to values, found ${docs.length} documents` }]);
  const [doc] = docs;
  const issues = schemaIssues(CONFIG_SCHEMA, doc.value, 'config');
  if (issues.length > 0) {
    throw new ConfigError(issues.map((i) => {
      const line = lineOf(doc.lines, i.linePath ?? i.path);
      return line === undefined ? { file, path: i.path, message: i.message } : { file, line, path: i.path, message: i.message };
    }));
  }
  return toValues(file, doc.value as Record<string, unknown>);
}

/** Reads and checks a config file; throws ConfigError. */
export async function loadConfigFile(file: string): Promise<ConfigValues> {
  let text: string;
  try {
    text = await readSpecFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    throw new ConfigError([fileProblem(file, err)]);
  }
  return parseConfig(file, text);
}
