// A workaround for js-yaml 5.5, which refuses a tab used as separation inside a flow
// collection in a block collection (`args: [a,\tb]`, `env: [{name:\tA}]`) or just before one
// (`args:\t[a]`) with "deficient indentation". YAML 1.2 allows tabs as separation anywhere
// but in indentation; js-yaml's check for a tab in the indentation looks at the first tab
// anywhere on the line instead. To be dropped once js-yaml parses these itself.
//
// Only after that refusal, the file is parsed once more with the mid-line tabs read as
// spaces, and the result is kept only if every such tab lies inside a flow collection (or in
// the separation just before one) of that parse. There a tab and a space are the same
// white space to YAML, the positions of everything are unchanged (one character for one),
// and values are read from the original text, so a tab inside a scalar stays a tab. Tabs
// anywhere else are put back, and if the file still does not parse, js-yaml's own error
// stands.

import { COLLECTION_STYLE, EVENT_ID, YAMLException, parseEvents, type Event } from 'js-yaml';

/** parseEvents, with tabs as separation in flow collections accepted. The events' offsets hold for `text`. */
export function parseEventsAllowingFlowTabs(text: string): Event[] {
  try {
    return parseEvents(text, {});
  } catch (err) {
    if (!(err instanceof YAMLException) || err.reason !== 'deficient indentation' || !text.includes('\t')) throw err;
    const events = withFlowTabsAsSpaces(text);
    if (events === undefined) throw err;
    return events;
  }
}

function withFlowTabsAsSpaces(text: string): Event[] | undefined {
  let tabs = midLineTabs(text);
  for (let round = 0; round < 2 && tabs.length > 0; round++) {
    let events: Event[];
    try {
      events = parseEvents(spaced(text, tabs), {});
    } catch {
      return undefined;
    }
    const flow = flowSeparation(text, events);
    if (flow === undefined) return undefined;
    const inFlow = tabs.filter((at) => flow[at] > 0);
    if (inFlow.length === tabs.length) return events;
    tabs = inFlow; // the others were not what js-yaml refused: parse them as they are
  }
  return undefined;
}

/** Offsets of the tabs after the first non-blank character of their line: never indentation. */
function midLineTabs(text: string): number[] {
  const out: number[] = [];
  let content = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || c === '\r') content = false;
    else if (c === '\t') {
      if (content) out.push(i);
    } else if (c !== ' ') content = true;
  }
  return out;
}

function spaced(text: string, tabs: number[]): string {
  const parts: string[] = [];
  let from = 0;
  for (const at of tabs) {
    parts.push(text.slice(from, at), ' ');
    from = at + 1;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

interface Frame {
  /** A flow collection written with its brackets (not a single pair such as `[a: b]`). */
  bracketed: boolean;
  flow: boolean;
  blockMapping: boolean;
  /** Where the collection starts, at its bracket when bracketed. */
  start: number;
  /** Past the last child seen so far: the closing bracket is the next token. */
  cursor: number;
  children: number;
}

/**
 * For every offset of the text, how many bracketed flow collections (or the white space
 * just before one) cover it; undefined when a closing bracket is not where the events put
 * it, which leaves the decision to js-yaml. Collections have no end offset among the events:
 * it is found after the last child, past separators, comments and closing quotes.
 */
function flowSeparation(text: string, events: Event[]): Int32Array | undefined {
  const depth = new Int32Array(text.length + 1);
  const stack: Frame[] = [];
  const reach = (end: number) => {
    const top = stack[stack.length - 1];
    if (top && end > top.cursor) top.cursor = end;
  };
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    const parent = stack[stack.length - 1];
    const isKey = parent !== undefined && parent.blockMapping && ev.type !== EVENT_ID.POP && ev.type !== EVENT_ID.DOCUMENT && parent.children % 2 === 0;
    if (parent && ev.type !== EVENT_ID.POP) parent.children++;
    if (ev.type === EVENT_ID.DOCUMENT) {
      stack.push({ bracketed: false, flow: false, blockMapping: false, start: 0, cursor: 0, children: 0 });
    } else if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) {
      const flow = ev.style === COLLECTION_STYLE.FLOW;
      const next = events[i + 1];
      // A single pair in a flow sequence is a mapping event at its key, which may itself
      // be a collection starting at the same offset.
      const pair = ev.type === EVENT_ID.MAPPING && (text[ev.start] !== '{' || ((next?.type === EVENT_ID.MAPPING || next?.type === EVENT_ID.SEQUENCE) && next.start === ev.start));
      const bracketed = flow && !pair;
      // The white space before a flow collection separates it from what precedes it on
      // the line (`key:\t[a]`, `-\t[a]`), except before the first key of a block mapping
      // (`-\t[a]: b`), where it would be the mapping's indentation.
      if (bracketed && !isKey) markLead(text, depth, ev.start);
      stack.push({ bracketed, flow, blockMapping: !flow && ev.type === EVENT_ID.MAPPING, start: ev.start, cursor: ev.start + (bracketed ? 1 : 0), children: 0 });
    } else if (ev.type === EVENT_ID.SCALAR) {
      reach(Math.max(ev.valueEnd, ev.anchorEnd, ev.tagEnd));
    } else if (ev.type === EVENT_ID.ALIAS) {
      reach(ev.anchorEnd);
    } else {
      const done = stack.pop();
      if (!done?.flow) continue;
      let end = done.cursor;
      if (done.bracketed) {
        const close = closingBracket(text, done.cursor, text[done.start] === '{' ? '}' : ']');
        if (close === undefined) return undefined;
        end = close + 1;
        depth[done.start]++;
        depth[end]--;
      }
      reach(end);
    }
  }
  for (let i = 1; i < depth.length; i++) depth[i] += depth[i - 1];
  return depth;
}

/** Marks the run of blanks before `start` on its line, unless the run is the line's indentation. */
function markLead(text: string, depth: Int32Array, start: number): void {
  let from = start;
  while (from > 0 && (text[from - 1] === ' ' || text[from - 1] === '\t')) from--;
  if (from === start || from === 0 || text[from - 1] === '\n' || text[from - 1] === '\r') return;
  depth[from]++;
  depth[start]--;
}

/** The offset of the closing bracket, when only separators, comments and quotes come before it. */
function closingBracket(text: string, from: number, closer: string): number | undefined {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === closer) return i;
    if (c === '#') {
      while (i + 1 < text.length && text[i + 1] !== '\n' && text[i + 1] !== '\r') i++;
    } else if (!' \t\r\n,:?"\''.includes(c)) {
      return undefined;
    }
  }
  return undefined;
}
