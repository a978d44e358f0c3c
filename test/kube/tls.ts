// A throwaway certificate for the test API server (self-signed, for 127.0.0.1), made with
// Debian's openssl once per test process: the clients verify it against the kubeconfig's
// certificate-authority-data, as they would a real cluster's CA.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Certificate {
  cert: string;
  key: string;
}

let cached: Certificate | undefined;

export function testCertificate(): Certificate {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=converge-test-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    cached = { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
