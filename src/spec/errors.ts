// Typed errors of reading spec files. They never leave the spec layer as exceptions: the
// loader turns each into a Problem (a bad file is data). Branch on `code`, never on text.

import { ConvergeError } from '../errors.js';

export type SpecErrorCode =
  | 'FileTooLarge'
  | 'FileUnreadable'
  | 'NotRegularFile'
  | 'InvalidUtf8'
  | 'YamlSyntax'
  | 'JsonSyntax'
  | 'TooManyAliases'
  | 'TooManyDocuments'
  | 'InvalidReference';

export class SpecError extends ConvergeError {
  declare readonly code: SpecErrorCode;
  /** 1-based line of the input the error is at, when known. */
  readonly line?: number;

  constructor(code: SpecErrorCode, message: string, options?: { line?: number; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.line !== undefined) this.line = options.line;
  }
}

/** The file is over the size limit; it is refused before it is parsed. */
export class FileTooLargeError extends SpecError {
  constructor(size: number, limit: number) {
    super('FileTooLarge', `file is ${size} bytes, more than the limit of ${limit} bytes`);
  }
}

export class FileUnreadableError extends SpecError {
  constructor(message: string, cause: unknown) {
    super('FileUnreadable', message, { cause });
  }
}

/** A FIFO, device, socket or directory where a spec file was expected: refused, never read. */
export class NotRegularFileError extends SpecError {
  constructor(kind: string, cause?: unknown) {
    super('NotRegularFile', `is ${kind}, not a regular file`, cause === undefined ? undefined : { cause });
  }
}

/** The file's bytes are not UTF-8; `line` is that of the first bad byte. */
export class InvalidUtf8Error extends SpecError {
  /** 0-based offset of the byte that starts the first ill-formed sequence. */
  readonly offset: number;

  constructor(byte: number, offset: number, line: number) {
    const hex = byte.toString(16).padStart(2, '0');
    super('InvalidUtf8', `is not valid UTF-8 (byte 0x${hex} at offset ${offset}); save the file as UTF-8`, { line });
    this.offset = offset;
  }
}

export class YamlSyntaxError extends SpecError {
  constructor(message: string, line: number | undefined, cause?: unknown) {
    super('YamlSyntax', message, { line, cause });
  }
}

export class JsonSyntaxError extends SpecError {
  constructor(message: string, line: number | undefined, cause?: unknown) {
    super('JsonSyntax', message, { line, cause });
  }
}

/** Aliases would expand a document past the node limit (a "billion laughs" file). */
export class TooManyAliasesError extends SpecError {
  constructor(message: string, line: number | undefined) {
    super('TooManyAliases', message, { line });
  }
}

export class TooManyDocumentsError extends SpecError {
  constructor(count: number, limit: number) {
    super('TooManyDocuments', `file holds ${count} documents, more than the limit of ${limit}`);
  }
}

/** Not an image reference docker or containerd would accept. */
export class InvalidReferenceError extends SpecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidReference', message, options);
  }
}
