// Redaction of repository URLs and of the text git prints about them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentiallessUrl, redactText, redactUrl } from '../../src/sources/git/redact.js';

test('redactUrl hides userinfo (tokens are often the user name) and query strings', () => {
  const cases: [string, string][] = [
    ['https://github.com/org/repo.git', 'https://github.com/org/repo.git'],
    ['https://user:pa55word@github.com/org/repo.git', 'https://***@github.com/org/repo.git'],
    ['https://ghp_tokenvalue@github.com/org/repo.git', 'https://***@github.com/org/repo.git'],
    ['https://x-access-token:abc%40def@host:8443/r.git', 'https://***@host:8443/r.git'],
    ['http://host/r.git?private_token=xyz', 'http://host/r.git?***'],
    ['ssh://git@host:2222/org/repo.git', 'ssh://git@host:2222/org/repo.git'],
    ['ssh://git:secret@host/org/repo.git', 'ssh://***@host/org/repo.git'],
    ['git@github.com:org/repo.git', 'git@github.com:org/repo.git'],
    ['file:///srv/git/repo.git', 'file:///srv/git/repo.git'],
    ['/srv/git/repo.git', '/srv/git/repo.git'],
    ['git://127.0.0.1:9418/repo.git', 'git://127.0.0.1:9418/repo.git'],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown, url);
});

test('redactText scrubs the URL, its secrets in any form, and any other URL userinfo', () => {
  const url = 'https://deploy:s3cr%40t-pass@host/r.git';
  const text = [
    `fatal: unable to access '${url}/': Could not resolve host`,
    "remote: password s3cr@t-pass rejected for user 'deploy'",
    'also https://someone:else@mirror/r.git and ssh://git@host/x',
  ].join('\n');
  const out = redactText(text, url);
  for (const secret of ['s3cr%40t-pass', 's3cr@t-pass', 'deploy', 'someone:else']) assert.ok(!out.includes(secret), `${secret} in ${out}`);
  assert.match(out, /unable to access 'https:\/\/\*\*\*@host\/r\.git\/'/);
  assert.match(out, /ssh:\/\/git@host\/x/, 'an SSH user name is no secret');
});

test('credentiallessUrl names the clone the same whatever the credentials', () => {
  assert.equal(credentiallessUrl('https://a:b@host/r.git?x=1'), 'https://host/r.git');
  assert.equal(credentiallessUrl('https://c:d@host/r.git'), credentiallessUrl('https://host/r.git'));
});
