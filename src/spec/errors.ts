// Typed errors of reading spec files. They never leave the spec layer as exceptions: the
// loader turns each into a Problem (a bad file is data). Branch on `code`, never on text.

export type SpecErrorCode =
  | 'FileTooLarge'
  | 'FileUnreadable'
  | 'YamlSyntax'
  | 'JsonSyntax'
  | 'TooManyAliases'
  | 'TooManyDocuments';

export class SpecError extends Error {
  readonly code: SpecErrorCode;
  /** 1-based line of the input the error is at, when known. */
  readonly line?: number;

  constructor(code: SpecErrorCode, message: string, options?: { line?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpecError';
    this.code = code;
    if (options?.line !== undefined) this.line = options.line;
  }
}

/** The file is over the size limit; it is refused before it is parsed. */
export class FileTooLargeError extends SpecError {
  constructor(size: number, limit: number) {
    super('FileTooLarge', `file is ${size} bytes, more than the limit of ${limit} bytes`);
    this.name = 'FileTooLargeError';
  }
}

export class FileUnreadableError extends SpecError {
  constructor(message: string, cause: unknown) {
    super('FileUnreadable', message, { cause });
    this.name = 'FileUnreadableError';
  }
}

export class YamlSyntaxError extends SpecError {
  constructor(message: string, line: number | undefined, cause?: unknown) {
    super('YamlSyntax', message, { line, cause });
    this.name = 'YamlSyntaxError';
  }
}

export class JsonSyntaxError extends SpecError {
  constructor(message: string, line: number | undefined, cause?: unknown) {
    super('JsonSyntax', message, { line, cause });
    this.name = 'JsonSyntaxError';
  }
}

/** Aliases would expand a document past the node limit (a "billion laughs" file). */
export class TooManyAliasesError extends SpecError {
  constructor(message: string, line: number | undefined) {
    super('TooManyAliases', message, { line });
    this.name = 'TooManyAliasesError';
  }
}

export class TooManyDocumentsError extends SpecError {
  constructor(count: number, limit: number) {
    super('TooManyDocuments', `file holds ${count} documents, more than the limit of ${limit}`);
    this.name = 'TooManyDocumentsError';
  }
}
