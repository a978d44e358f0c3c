// GET / on --listen: the status page, one self-contained HTML document (its style and script
// inline; no font, image or script from anywhere, so it works on an edge box with no
// network). Its Content-Security-Policy allows exactly that style and script, by their
// SHA-256 hashes, and connections back to the same origin only (the event stream and the
// log tails): an injected tag or attribute runs nothing, and data leaves for nowhere else.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { pageMain } from './page-script.js';
import { PAGE_HEADERS } from './live.js';

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d2228; --muted: #68717c; --line: #dde1e6; --head: #f4f6f8;
  --ok: #1a7f37; --warn: #9a6700; --bad: #c0262d; --info: #0b61c4; }
@media (prefers-color-scheme: dark) { :root { --bg: #14171b; --fg: #e6e9ed; --muted: #9aa3ad; --line: #2d333b; --head: #1c2127;
  --ok: #4ac26b; --warn: #d4a72c; --bad: #f47067; --info: #539bf5; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--head); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 20px 0 8px; }
main { padding: 0 20px 24px; }
#updated { color: var(--muted); margin-left: auto; }
.conn { font-weight: 600; }
.conn-live { color: var(--ok); } .conn-retry { color: var(--warn); } .conn-down { color: var(--bad); }
.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
tr.container td { border-bottom: none; }
td[data-field="container"] div:first-child { font-weight: 600; }
td[data-field="container"] div + div, td[data-field="desired"] div + div, td[data-field="actual"] div + div,
td[data-field="action"] div + div, td[data-field="health"] div + div { color: var(--muted); font-size: 12px; }
td[data-field="restarts"] { font-variant-numeric: tabular-nums; text-align: right; }
td[data-field="message"] { max-width: 36em; overflow-wrap: anywhere; }
td[data-field="desired"], td[data-field="actual"] { overflow-wrap: anywhere; min-width: 12em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--muted); }
.ph-Running { background: var(--ok); } .ph-Pulling, .ph-Created, .ph-Updating, .ph-Pending { background: var(--info); }
.ph-BackOff, .ph-Exited, .ph-Orphaned, .ph-Removing { background: var(--warn); } .ph-Failed, .ph-Conflict { background: var(--bad); }
.bad { color: var(--bad); }
.ok { color: var(--ok); }
summary { cursor: pointer; color: var(--muted); font-size: 12px; }
pre.log { margin: 4px 0 0; padding: 6px 8px; max-height: 20em; overflow: auto; background: var(--head); border: 1px solid var(--line);
  border-radius: 4px; font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.source { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin-bottom: 8px; }
.source.has-problems { border-color: var(--bad); }
.source-head { display: flex; gap: 10px; align-items: baseline; overflow-wrap: anywhere; }
.kind, .facts { color: var(--muted); font-size: 12px; }
ul.problems { margin: 4px 0 0; padding-left: 20px; color: var(--bad); overflow-wrap: anywhere; }
#actions td:first-child { white-space: nowrap; color: var(--muted); }
.empty { color: var(--muted); }
`;

const SCRIPT = `(${pageMain.toString()})();`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** Only the page's own style and script, and fetches to where it came from. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  // The empty icon of the page's own <link rel=icon>: without it the browser asks for /favicon.ico.
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>converge status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>converge</h1>
<span id="conn" class="conn">connecting…</span>
<span id="summary"></span>
<span id="updated"></span>
</header>
<main>
<noscript><p class="bad">This page needs JavaScript; /v1/status has the same rows as JSON.</p></noscript>
<h2>Containers</h2>
<div class="table"><table id="containers">
<thead><tr><th>Container</th><th>Phase</th><th>Health</th><th>Restarts</th><th>Desired</th><th>Actual</th><th>Last action</th><th>Message</th></tr></thead>
<tbody id="containers-body"></tbody>
</table></div>
<p id="no-containers" class="empty" hidden>No container is desired or running.</p>
<h2>Sources</h2>
<div id="sources"></div>
<h2>Recent actions</h2>
<div class="table"><table id="actions">
<thead><tr><th>Time</th><th>Container</th><th>Action</th><th>Detail</th></tr></thead>
<tbody id="actions-body"></tbody>
</table></div>
<p id="no-actions" class="empty" hidden>No action since converge started.</p>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Answers GET / (and HEAD). */
export function servePage(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, {
    ...PAGE_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': PAGE_CSP,
    'x-frame-options': 'DENY',
  });
  res.end(req.method === 'HEAD' ? undefined : HTML);
}

/** The page's HTML (tests look at it whole). */
export function pageHtml(): string {
  return HTML;
}
