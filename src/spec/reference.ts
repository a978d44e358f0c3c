// Image references, parsed and normalised the way docker and containerd do: "redis" is
// docker.io/library/redis:latest, a first component with a dot or a port (or "localhost")
// is a registry, digests pin content. Also Kubernetes' default imagePullPolicy.

import type { PullPolicy } from './types.js';
import { InvalidReferenceError } from './errors.js';
import { quote } from './quote.js';

export interface Reference {
  /** Registry as named in the reference, e.g. "docker.io", "registry.local:5000". */
  domain: string;
  /** Repository path, e.g. "library/redis". */
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
/** Where docker.io's registry API really is. */
const DOCKER_HUB_API = 'registry-1.docker.io';
const MAX_NAME_LENGTH = 255;

// The grammar of distribution/reference.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = new RegExp(`^${ALNUM}(?:${SEPARATOR}${ALNUM})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function fail(input: string, why: string): never {
  throw new InvalidReferenceError(`invalid image reference ${quote(input)}: ${why}`);
}

export function validateDigest(digest: string, input = digest): void {
  if (!DIGEST.test(digest)) fail(input, `${quote(digest)} is not a digest (algorithm:hex)`);
  const [algorithm, hex] = digest.split(':', 2);
  const length = HEX_LENGTH[algorithm];
  if (length === undefined) fail(input, `unsupported digest algorithm ${quote(algorithm)}`);
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) fail(input, `a ${algorithm} digest is ${length} lowercase hex characters`);
}

/** Parses and normalises (docker.io default, library/ prefix, :latest when neither tag nor digest). */
export function parseReference(input: string): Reference {
  if (input === '') fail(input, 'empty');
  if (/\s/.test(input)) fail(input, 'contains whitespace');
  if (/^[a-f0-9]{64}$/.test(input)) fail(input, 'a 64-character hex string is an image ID, not a reference');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(digest, input);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(input, `${quote(tag)} is not a valid tag`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Only something that cannot be a repository path component names a registry.
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) fail(input, `${quote(domain)} is not a valid registry host`);
  if (path === '') fail(input, 'no repository name');
  if (path.toLowerCase() !== path) fail(input, 'repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) fail(input, `${quote(component)} is not a valid repository path component`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) fail(input, `name longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** domain/path[:tag][@digest]: the name containerd's image record gets. */
export function formatReference(ref: Reference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** The reference of `input`'s repository at `digest` ("host/app:1" -> "host/app@sha256:..."). */
export function pinnedReference(input: string, digest: string): string {
  const ref = parseReference(input);
  validateDigest(digest);
  return formatReference({ ...ref, tag: undefined, digest });
}

/** The host the registry API answers on ("docker.io" is served elsewhere). */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API : domain;
}

/**
 * Kubernetes' default: Always when the tag is "latest" (written or implied), else
 * IfNotPresent (a digest, or any other tag). An unparsable reference gets IfNotPresent, as
 * there (the pull reports the reference as invalid).
 */
export function defaultPullPolicy(image: string): PullPolicy {
  try {
    return parseReference(image).tag === 'latest' ? 'Always' : 'IfNotPresent';
  } catch {
    return 'IfNotPresent';
  }
}
