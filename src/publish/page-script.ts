// The status page's script, run by the browser. It is written here as a TypeScript function
// (so the compiler checks it against the DOM and PageView types) and sent as its own source
// text: page.ts inlines `(${pageMain})()`, so it must use nothing outside its own body.
//
// It renders the view GET /v1/events pushes (whole views), keyed by container so that an
// open log tail survives updates, and fetches each open log tail from GET /v1/logs. Every
// piece of data goes in with textContent or an attribute: spec fields are untrusted.

import type { ActivityEntry } from './activity.js';
import type { PageView, SourceView } from './view.js';

export function pageMain(): void {
  type Container = PageView['containers'][number];
  interface Entry {
    main: HTMLTableRowElement;
    logs: HTMLTableRowElement;
    cells: Record<string, HTMLElement>;
    details: HTMLDetailsElement;
    pre: HTMLElement;
    /** pid and restarts when the log was last fetched: a new task means new output. */
    seen: string;
    loading: boolean;
  }
  const FIELDS = ['container', 'phase', 'health', 'restarts', 'desired', 'actual', 'action', 'message'];
  const LOG_LINES = 20;
  const OPEN_LOGS_UP_TO = 12;
  const entries = new Map<string, Entry>();
  let retryMs = 1000;

  function byId(id: string): HTMLElement {
    const found = document.getElementById(id);
    if (!found) throw new Error(`status page: no #${id}`);
    return found;
  }

  function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Replaces `parent`'s children by one line (a div) per non-empty text. */
  function lines(parent: HTMLElement, texts: (string | null | undefined | false)[], cls?: string): void {
    parent.replaceChildren(...texts.filter((t): t is string => typeof t === 'string' && t !== '').map((t) => el('div', cls, t)));
  }

  function time(iso: string | null): string {
    if (!iso) return '';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
  }

  function short(digest: string | null): string {
    return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '';
  }

  function setConnection(state: string, text: string): void {
    const c = byId('conn');
    c.className = `conn conn-${state}`;
    c.textContent = text;
  }

  function connect(): void {
    const source = new EventSource('/v1/events');
    source.addEventListener('open', () => {
      retryMs = 1000;
      setConnection('live', 'live');
    });
    source.addEventListener('status', (e) => {
      render(JSON.parse((e as MessageEvent<string>).data) as PageView);
    });
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) {
        setConnection('retry', 'reconnecting…');
        return;
      }
      // Refused (503: too many clients) or a non-stream answer: the browser gives up, so retry here.
      setConnection('down', `disconnected; retrying in ${Math.round(retryMs / 1000)} s`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    });
  }

  function render(view: PageView): void {
    const phases = new Map<string, number>();
    for (const c of view.containers) phases.set(c.phase, (phases.get(c.phase) ?? 0) + 1);
    const counts = [...phases].map(([phase, n]) => `${n} ${phase}`).join(' · ');
    byId('summary').textContent = `${view.containers.length} container${view.containers.length === 1 ? '' : 's'}${counts ? `: ${counts}` : ''}${view.ready ? '' : ' · not ready yet'}`;
    byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    renderContainers(view.containers);
    renderSources(view.sources, view.problems);
    renderActions(view.actions);
  }

  function renderContainers(containers: Container[]): void {
    const body = byId('containers-body');
    const keep = new Set<string>();
    const order: HTMLTableRowElement[] = [];
    for (const c of containers) {
      const key = `${c.namespace}/${c.name}`;
      keep.add(key);
      let entry = entries.get(key);
      if (!entry) {
        entry = newEntry(key, containers.length <= OPEN_LOGS_UP_TO);
        entries.set(key, entry);
      }
      fill(entry, c);
      order.push(entry.main, entry.logs);
    }
    for (const key of [...entries.keys()]) if (!keep.has(key)) entries.delete(key);
    body.replaceChildren(...order);
    byId('no-containers').hidden = containers.length > 0;
  }

  function newEntry(key: string, open: boolean): Entry {
    const main = el('tr', 'container');
    main.dataset.key = key;
    const cells: Record<string, HTMLElement> = {};
    for (const field of FIELDS) {
      const td = el('td');
      td.dataset.field = field;
      cells[field] = td;
      main.append(td);
    }
    const logs = el('tr', 'logs');
    logs.dataset.key = key;
    const td = el('td');
    td.colSpan = FIELDS.length;
    const details = el('details');
    details.open = open;
    const pre = el('pre', 'log', '…');
    pre.dataset.field = 'logs';
    details.append(el('summary', undefined, `log tail (last ${LOG_LINES} lines)`), pre);
    td.append(details);
    logs.append(td);
    const entry: Entry = { main, logs, cells, details, pre, seen: '', loading: false };
    details.addEventListener('toggle', () => {
      if (details.open) void loadLog(key, entry);
    });
    return entry;
  }

  function fill(entry: Entry, c: Container): void {
    const { cells } = entry;
    lines(cells.container, [c.name, c.namespace]);
    cells.container.title = c.id;
    const badge = el('span', `badge ph-${/^[A-Za-z]+$/.test(c.phase) ? c.phase : 'Unknown'}`, c.phase);
    cells.phase.replaceChildren(badge);
    lines(cells.health, [c.health ?? '–', c.health && c.health !== 'Healthy' && c.healthFailures ? `${c.healthFailures} failed` : '']);
    cells.health.title = c.healthOutput ?? '';
    cells.restarts.textContent = String(c.restarts);
    lines(cells.desired, [
      c.image ?? '(not desired)',
      c.source ? `from ${c.source}` : '',
      c.revision ? `revision ${c.revision.slice(0, 12)}` : '',
      c.updatePhase ? `auto-update: ${c.updatePhase}` : '',
    ]);
    lines(cells.actual, [
      c.pid !== null ? `pid ${c.pid}` : c.exitCode !== null ? `exit code ${c.exitCode}` : 'no task',
      c.imageDigest ? `digest ${short(c.imageDigest)}` : '',
      c.ip ? `ip ${c.ip}` : '',
      c.ports.length ? c.ports.join(', ') : '',
      c.startedAt ? `started ${time(c.startedAt)}` : c.createdAt ? `created ${time(c.createdAt)}` : '',
    ]);
    cells.actual.title = c.imageDigest ?? '';
    renderAction(cells.action, c.lastAction);
    cells.message.textContent = c.message;
    cells.message.className = /^(Failed|Conflict|BackOff)$/.test(c.phase) ? 'bad' : '';
    const seen = `${c.pid}/${c.restarts}/${c.phase}`;
    if (entry.details.open && seen !== entry.seen) void loadLog(`${c.namespace}/${c.name}`, entry, seen);
  }

  function renderAction(cell: HTMLElement, a: ActivityEntry | null): void {
    if (!a) {
      cell.replaceChildren();
      return;
    }
    lines(cell, [`${a.action}${a.count > 1 ? ` ×${a.count}` : ''} at ${time(a.at)}`, a.reason, a.error]);
    cell.classList.toggle('bad', a.error !== null);
  }

  async function loadLog(key: string, entry: Entry, seen?: string): Promise<void> {
    if (entry.loading) return;
    entry.loading = true;
    if (seen !== undefined) entry.seen = seen;
    const [namespace, name] = key.split('/');
    try {
      const res = await fetch(`/v1/logs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}?tail=${LOG_LINES}`, { cache: 'no-store' });
      const body = (await res.json()) as { lines?: string[]; error?: string };
      if (!res.ok) entry.pre.textContent = `(${body.error ?? `HTTP ${res.status}`})`;
      else entry.pre.textContent = body.lines && body.lines.length > 0 ? body.lines.join('\n') : '(no output yet)';
    } catch (err) {
      entry.pre.textContent = `(log tail unavailable: ${String(err)})`;
    } finally {
      entry.loading = false;
    }
  }

  function renderSources(sources: SourceView[], loose: string[]): void {
    const rows = sources.map((s) => {
      const box = el('div', `source${s.error || s.problems.length ? ' has-problems' : ''}`);
      box.dataset.source = s.name;
      const head = el('div', 'source-head');
      head.append(el('strong', undefined, s.name), el('span', 'kind', s.kind));
      box.append(head);
      if (s.facts.length) box.append(el('div', 'facts', s.facts.join(' · ')));
      if (s.error) box.append(el('div', 'bad', s.error));
      const list = el('ul', 'problems');
      for (const p of s.problems) list.append(el('li', undefined, p));
      box.append(s.problems.length ? list : el('div', 'ok', 'no problems'));
      return box;
    });
    if (loose.length) {
      const box = el('div', 'source has-problems');
      box.append(el('strong', undefined, 'other problems'));
      const list = el('ul', 'problems');
      for (const p of loose) list.append(el('li', undefined, p));
      box.append(list);
      rows.push(box);
    }
    byId('sources').replaceChildren(...rows);
  }

  function renderActions(actions: ActivityEntry[]): void {
    const rows = actions.map((a) => {
      const tr = el('tr', a.error ? 'bad' : undefined);
      tr.append(
        el('td', undefined, time(a.at)),
        el('td', undefined, a.key),
        el('td', undefined, `${a.action}${a.count > 1 ? ` ×${a.count}` : ''}`),
        el('td', undefined, [a.reason, a.error, a.pid ? `pid ${a.pid}` : ''].filter(Boolean).join('; ')),
      );
      return tr;
    });
    byId('actions-body').replaceChildren(...rows);
    byId('no-actions').hidden = actions.length > 0;
  }

  // Open log tails follow the output of a task that keeps writing, while the page is seen.
  setInterval(() => {
    if (document.visibilityState !== 'visible') return;
    for (const [key, entry] of entries) if (entry.details.open) void loadLog(key, entry);
  }, 3000);
  connect();
}
