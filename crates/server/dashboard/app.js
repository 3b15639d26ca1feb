// The dashboard: keys, the page state in the URL, the API client and one render function per view.
//
// The page is a function of its address: `?view=…&projects=…&…` names a view and its controls, so a reload or a
// shared link shows the same report (read keys are never in the address; they live in localStorage). Each report
// is requested per project, with that project's key, and combined on the page. Requests of one key run one after
// the other, because the server computes at most one read per key at a time (429 `too_many_reads` otherwise).

import * as charts from './charts.js';
import {
  LANGS,
  fmtDay,
  fmtDuration,
  fmtInstant,
  fmtInt,
  fmtInterval,
  fmtMoney,
  fmtNum,
  fmtPct,
  fmtPeriod,
  lang,
  setLang,
  t,
} from './i18n.js';

const KEYS_STORAGE = 'liucun.keys';
const SMALL_COHORT = 20;
const PERIODS = ['hour', 'day', 'week', 'month'];
const DEFAULT_INTERVALS = { hour: 24, day: 31, week: 12, month: 6 };
// The global filters (`where`) follow the page from tab to tab, like the projects and the window.
const COMMON_KEYS = ['projects', 'from', 'to', 'tz', 'where'];
// Property filters in the address, one parameter per filter (repeated), written like the CLI's --where:
// `where=$os eq iOS`, `where=person.plan eq pro`; `target_where` and `returning_where` are retention's filters of the
// start and returning events. A value is JSON when it parses (3, true, ["a","b"]) and text otherwise.
const FILTER_KEYS = ['where', 'target_where', 'returning_where'];
const FILTER_LABELS = { where: 'ctl.filters', target_where: 'ctl.target_filters', returning_where: 'ctl.returning_filters' };
const OPERATORS = ['eq', 'neq', 'contains', 'not_contains', 'gt', 'gte', 'lt', 'lte', 'is_set', 'is_not_set', 'regex'];
const NO_VALUE = ['is_set', 'is_not_set'];

// ---------------------------------------------------------------------------------------------------------------
// Small DOM helpers.

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'value') el.value = value;
    else if (name === 'checked') el.checked = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------------------
// Keys: from the fragment `#keys=k1,k2` (moved to localStorage and stripped from the address) or the form.

function storedKeys() {
  try {
    const keys = JSON.parse(localStorage.getItem(KEYS_STORAGE) ?? '[]');
    return Array.isArray(keys) ? keys.filter((k) => typeof k === 'string' && k) : [];
  } catch {
    return [];
  }
}

function saveKeys(keys) {
  localStorage.setItem(KEYS_STORAGE, JSON.stringify([...new Set(keys)]));
}

function parseKeys(text) {
  return text
    .split(/[\s,;]+/)
    .map((k) => k.trim())
    .filter(Boolean);
}

function takeFragmentKeys() {
  const hash = location.hash.replace(/^#/, '');
  const params = new URLSearchParams(hash);
  if (!params.has('keys')) return;
  const keys = parseKeys(params.get('keys') ?? '');
  saveKeys([...storedKeys(), ...keys]);
  params.delete('keys');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

// ---------------------------------------------------------------------------------------------------------------
// API client.

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? `http_${status}`;
    this.requestId = body?.request_id ?? null;
  }
}

class Unreachable extends Error {}

const queues = new Map();

function enqueue(key, work) {
  const previous = queues.get(key) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(work);
  queues.set(key, next);
  return next;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// One API call with `key`, queued behind the key's other calls. Answers `{json, text}`: `text` is the body exactly
/// as the server sent it, which the JSON download hands over unchanged.
function request(path, { key, method = 'GET', body = null, headers = {} } = {}) {
  return enqueue(key ?? '', async () => {
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(path, {
          method,
          body,
          headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers },
          cache: 'no-store',
        });
      } catch (error) {
        throw new Unreachable(String(error));
      }
      const text = await response.text();
      const retry = response.status === 429 || (response.status === 503 && response.headers.get('retry-after'));
      if (retry && attempt < 4) {
        await sleep(1000 * Math.min(5, Number(response.headers.get('retry-after')) || 1));
        continue;
      }
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (!response.ok) throw new ApiError(response.status, json);
      if (json === null) throw new ApiError(response.status, { code: 'not_json', message: text.slice(0, 200) });
      return { json, text };
    }
  });
}

const reportCache = new Map();

/// A report of one project. POST carries the parameters; `lang` and Accept-Language ask for definitions in the
/// page's language (the server may ignore them).
function fetchReport(project, kind, params) {
  const body = JSON.stringify(params);
  const id = `${project}\u0000${kind}\u0000${lang()}\u0000${body}`;
  if (!reportCache.has(id)) {
    const promise = request(
      `/api/v1/projects/${encodeURIComponent(project)}/reports/${kind}?lang=${encodeURIComponent(lang())}`,
      {
        key: keyFor(project),
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json', 'Accept-Language': lang() },
      },
    ).then(({ json, text }) => ({ project, kind, json, text }));
    promise.catch(() => reportCache.delete(id));
    reportCache.set(id, promise);
  }
  return reportCache.get(id);
}

// ---------------------------------------------------------------------------------------------------------------
// Session: which key reads which project (`GET /api/v1/whoami`).

const session = { keys: [], projects: [], projectKey: new Map(), loaded: false };

async function loadSession() {
  const keys = storedKeys();
  session.keys = await Promise.all(
    keys.map(async (key) => {
      try {
        const { json } = await request('/api/v1/whoami', { key: `whoami:${key}`, headers: { Authorization: `Bearer ${key}` } });
        return { key, ok: true, kind: json.kind, projects: json.projects ?? [] };
      } catch (error) {
        return { key, ok: false, error };
      }
    }),
  );
  session.projectKey = new Map();
  for (const entry of session.keys) {
    if (!entry.ok) continue;
    for (const project of entry.projects) {
      // A read key of the project wins over an admin key, so each project's reads queue behind its own key.
      const current = session.projectKey.get(project);
      if (!current || (current.kind === 'admin' && entry.kind === 'read')) session.projectKey.set(project, entry);
    }
  }
  session.projects = [...session.projectKey.keys()];
  session.loaded = true;
}

function keyFor(project) {
  return session.projectKey.get(project)?.key ?? null;
}

// ---------------------------------------------------------------------------------------------------------------
// Page state in the query string.

let state = {};

function readState() {
  const params = new URLSearchParams(location.search);
  const next = {};
  for (const [name, value] of params) {
    if (!FILTER_KEYS.includes(name)) next[name] = value;
    else if (value.trim()) (next[name] ??= []).push(value.trim());
  }
  next.view = VIEWS[next.view] ? next.view : 'overview';
  next.projects = (next.projects ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return next;
}

function stateQuery(s) {
  const view = VIEWS[s.view];
  const params = [['view', s.view]];
  if (s.projects?.length) params.push(['projects', s.projects.join(',')]);
  const keys = [...(view.dated ? ['from', 'to', 'tz'] : ['tz']), ...view.controls.map((c) => c.key), ...view.filters];
  for (const key of [...new Set(keys)]) {
    if (key === 'projects') continue;
    const value = s[key];
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => params.push([key, String(v)]));
    else params.push([key, String(value)]);
  }
  // Commas, slashes, colons and dollar signs stay readable, and spaces are `+`: the address is meant to be read and
  // shared (`where=$os+eq+iOS`).
  const enc = (v) =>
    encodeURIComponent(v).replace(/%2C/g, ',').replace(/%2F/g, '/').replace(/%24/g, '$').replace(/%3A/g, ':').replace(/%20/g, '+');
  return `?${params.map(([k, v]) => `${k}=${enc(v)}`).join('&')}`;
}

function commit(next, { push = true } = {}) {
  state = next;
  const url = location.pathname + stateQuery(state);
  if (url !== location.pathname + location.search) {
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }
}

/// Fills each control the address leaves out with its default.
function withDefaults(s) {
  const view = VIEWS[s.view];
  const next = { ...s };
  const readable = session.projects;
  next.projects = (next.projects ?? []).filter((p) => readable.includes(p));
  if (!next.projects.length) next.projects = [...readable];
  for (const control of view.controls) {
    if ((next[control.key] === undefined || next[control.key] === '') && control.default !== undefined) {
      const value = typeof control.default === 'function' ? control.default(next) : control.default;
      if (value !== undefined && value !== '') next[control.key] = String(value);
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------------------------------
// Dates. A window left empty ends on the last full day of data of the chosen projects, so a fresh page shows where
// the data is, and the resolved dates are written to the address so a reload shows the same window.

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function addMonths(day, n) {
  const d = new Date(`${day.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}

function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}

const extents = new Map();

/// The first and last stored event of a project, from the provenance of a one-day report.
function extentOf(project) {
  if (!extents.has(project)) {
    const promise = fetchReport(project, 'retention', { total_intervals: 1 }).then(({ json }) => {
      const p = (json.provenance.projects ?? []).find((x) => x.project === project) ?? json.provenance;
      return { first: p.first_event ?? null, last: p.last_event ?? null };
    });
    promise.catch(() => extents.delete(project));
    extents.set(project, promise);
  }
  return extents.get(project);
}

async function resolveDates(s, view) {
  if (!view.dated || (s.from && s.to)) return { s, empty: false };
  const found = await Promise.all(s.projects.map((p) => extentOf(p)));
  const lasts = found.map((e) => e.last).filter(Boolean).sort();
  const firsts = found.map((e) => e.first).filter(Boolean).sort();
  if (!lasts.length) return { s, empty: true };
  const firstDay = firsts[0].slice(0, 10);
  const lastDay = lasts[lasts.length - 1].slice(0, 10);
  // The last event's own day is usually cut short; end on the day before it unless that is all there is, and for
  // weeks and months on the last complete one (weeks as the default Monday start), so the last bar is not a stub.
  let end = lastDay > firstDay ? addDays(lastDay, -1) : lastDay;
  if (end > todayUtc()) end = todayUtc();
  const period = s.period ?? s.interval;
  if (period === 'week' && new Date(`${end}T00:00:00Z`).getUTCDay() !== 0) {
    const back = addDays(end, -new Date(`${end}T00:00:00Z`).getUTCDay());
    if (back >= firstDay) end = back;
  }
  if (period === 'month' && addDays(end, 1).slice(8, 10) !== '01') {
    const back = addDays(`${end.slice(0, 7)}-01`, -1);
    if (back >= firstDay) end = back;
  }
  let from = view.span(s, end);
  if (from < firstDay) from = firstDay;
  if (from > end) from = end;
  return { s: { ...s, from: s.from || from, to: s.to || end }, empty: false };
}

function spanBack(period, end, { day = 27, week = 12, month = 6, hour = 1 } = {}) {
  if (period === 'hour') return addDays(end, -hour);
  if (period === 'week') return addDays(end, -7 * week + 1);
  if (period === 'month') return addMonths(end, -(month - 1));
  return addDays(end, -day);
}

function common(s) {
  const params = { date_from: s.from || null, date_to: s.to || null };
  if (s.tz) params.timezone = s.tz;
  return { ...params, ...globalFilters(s) };
}

/// `properties` of the page's global filters, or nothing when there are none.
function globalFilters(s) {
  const properties = filtersOf(s, 'where');
  return properties.length ? { properties } : {};
}

function entity(event, properties = []) {
  return { event: event ? event : null, ...(properties.length ? { properties } : {}) };
}

/// A breakdown property as the CLI reads it: `KEY` or `event:KEY` for an event property, `person:KEY` for a
/// person property.
function breakdownOf(text) {
  if (!text) return null;
  const m = /^(event|person):(.+)$/.exec(text);
  return m ? { type: m[1], property: m[2] } : { property: text };
}

// ---------------------------------------------------------------------------------------------------------------
// Property filters: a row `{type, key, op, value}` (value as typed) and its text in the address.

/// Reads `[person.]KEY OP [VALUE]`; a KEY with spaces (or one that would read otherwise) is a JSON string. Leniently:
/// an unknown or missing operator is kept, so the API names what is wrong instead of the filter vanishing.
function parseWhere(text) {
  let rest = String(text).trim();
  let type = 'event';
  if (rest.startsWith('person.')) {
    type = 'person';
    rest = rest.slice('person.'.length);
  }
  const word = /^\S*/.exec(rest)[0];
  const quoted = /^"(?:[^"\\]|\\.)*"/.exec(rest)?.[0];
  let key = word;
  let used = word.length;
  if (quoted) {
    try {
      key = JSON.parse(quoted);
      used = quoted.length;
    } catch {
      // Not a JSON string after all: the first word is the key.
    }
  }
  rest = rest.slice(used);
  rest = rest.trimStart();
  const op = /^\S*/.exec(rest)[0];
  const value = rest.slice(op.length).trim();
  return { type, key, op, value };
}

function formatWhere(row) {
  const plain = row.key && !/\s/.test(row.key) && !row.key.startsWith('"') && !row.key.startsWith('person.');
  const key = plain ? row.key : JSON.stringify(row.key);
  const value = NO_VALUE.includes(row.op) || row.value === '' ? '' : ` ${row.value}`;
  return `${row.type === 'person' ? 'person.' : ''}${key} ${row.op}${value}`;
}

/// A value as the CLI reads it: JSON when it parses, else the text.
function parseValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toFilter(row) {
  const f = { type: row.type, key: row.key, operator: row.op };
  if (!NO_VALUE.includes(row.op) && row.value !== '') f.value = parseValue(row.value);
  return f;
}

/// Whether a row says enough to be applied: a key, and a value unless the operator takes none.
function rowComplete(row) {
  return row.key !== '' && row.op !== '' && (NO_VALUE.includes(row.op) || row.value !== '');
}

function filtersOf(s, group) {
  return (s[group] ?? []).map(parseWhere).map(toFilter);
}

// ---------------------------------------------------------------------------------------------------------------
// Event and property names for the datalists (`GET …/events?limit=1000` of the chosen projects).

const vocabularies = new Map();

function vocabularyOf(project) {
  if (!vocabularies.has(project)) {
    const promise = request(`/api/v1/projects/${encodeURIComponent(project)}/events?limit=1000`, { key: keyFor(project) }).then(
      ({ json }) => {
        const events = new Map();
        const properties = new Set();
        const numeric = new Set();
        const person = new Set();
        for (const e of json.events ?? []) {
          events.set(e.event, (events.get(e.event) ?? 0) + 1);
          for (const [name, value] of Object.entries(e.properties ?? {})) {
            properties.add(name);
            if (typeof value === 'number') numeric.add(name);
            // Person properties: what the events set on their person.
            if ((name === '$set' || name === '$set_once') && value && typeof value === 'object' && !Array.isArray(value)) {
              Object.keys(value).forEach((k) => person.add(k));
            }
          }
        }
        return { events, properties, numeric, person };
      },
    );
    promise.catch(() => vocabularies.delete(project));
    vocabularies.set(project, promise);
  }
  return vocabularies.get(project);
}

async function vocabulary(projects) {
  const all = await Promise.all(projects.map((p) => vocabularyOf(p).catch(() => null)));
  const events = new Map();
  const properties = new Set();
  const numeric = new Set();
  const person = new Set();
  for (const v of all) {
    if (!v) continue;
    for (const [name, n] of v.events) events.set(name, (events.get(name) ?? 0) + n);
    v.properties.forEach((p) => properties.add(p));
    v.numeric.forEach((p) => numeric.add(p));
    v.person.forEach((p) => person.add(p));
  }
  const byCount = [...events.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  return { events: byCount, properties: [...properties].sort(), numeric: [...numeric].sort(), person: [...person].sort() };
}

function fillDatalists(projects) {
  vocabulary(projects).then((v) => {
    const fill = (id, names) => {
      const list = $(id);
      if (!list) return;
      list.replaceChildren(...names.map((n) => h('option', { value: n })));
    };
    fill('dl-events', v.events);
    fill('dl-properties', v.properties);
    fill('dl-numeric', v.numeric);
    fill('dl-person-properties', v.person);
    fill('dl-breakdown', [...v.properties, ...v.person.map((p) => `person:${p}`)]);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Controls.

const periodControl = (key, dflt, label = 'ctl.period') => ({
  key,
  type: 'select',
  label,
  options: PERIODS,
  optionLabel: (v) => t(`period.${v}`),
  default: dflt,
});
const eventControl = (key, label = 'ctl.event') => ({ key, type: 'event', label, default: '' });
const breakdownControl = { key: 'breakdown', type: 'property', label: 'ctl.breakdown', default: '' };

function renderControls(view) {
  const box = $('controls');
  const fields = [];
  fields.push(projectsControl());
  if (view.dated) {
    fields.push(field('ctl.from', h('input', { type: 'date', value: state.from ?? '', name: 'from', onchange: (e) => update({ from: e.target.value }) })));
    fields.push(field('ctl.to', h('input', { type: 'date', value: state.to ?? '', name: 'to', onchange: (e) => update({ to: e.target.value }) })));
  }
  for (const control of view.controls) fields.push(controlField(control));
  if (view.zoned) {
    fields.push(
      field(
        'ctl.timezone',
        h('input', {
          type: 'text',
          name: 'tz',
          list: 'dl-timezones',
          value: state.tz ?? '',
          placeholder: t('ctl.timezone.default'),
          size: 16,
          onchange: (e) => update({ tz: e.target.value.trim() }),
        }),
      ),
    );
  }
  const lists = h(
    'div',
    { hidden: true },
    h('datalist', { id: 'dl-events' }),
    h('datalist', { id: 'dl-properties' }),
    h('datalist', { id: 'dl-numeric' }),
    h('datalist', { id: 'dl-person-properties' }),
    h('datalist', { id: 'dl-breakdown' }),
    h('datalist', { id: 'dl-timezones' }, ...timeZones().map((z) => h('option', { value: z }))),
  );
  const filters = view.filters.length ? [filtersBar(view)] : [];
  box.replaceChildren(...fields, ...filters, lists, ...(view.dated ? [h('div', { class: 'hint', text: t('ctl.dates_hint') })] : []));
  // The datalists sample the projects' events; a view without such inputs samples them once a filter is edited.
  const eager = view.controls.some((c) => c.type === 'event' || c.type === 'property' || c.type === 'numeric');
  if (eager || FILTER_KEYS.some((k) => state[k]?.length)) fillDatalists(state.projects);
  else if (filters.length) filters[0].addEventListener('focusin', () => fillDatalists(state.projects), { once: true });
}

// Filter rows. The rows on screen are the address's filters plus any row still being written (no key, or no value
// for an operator that needs one): those are kept here, not in the address, until they say enough to be applied.
const filterDrafts = new Map();

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function shownRows(group) {
  const applied = state[group] ?? [];
  const draft = filterDrafts.get(group);
  if (draft && sameList(draft.filter(rowComplete).map(formatWhere), applied)) return draft;
  return applied.map(parseWhere);
}

function filtersBar(view) {
  return h('div', { class: 'filters' }, ...view.filters.map((group) => filterGroup(group)));
}

function filterGroup(group) {
  const rows = h('div', { class: 'filter-rows' });
  const read = () =>
    [...rows.querySelectorAll('.filter-row')].map((el) => ({
      type: el.querySelector('select[data-part="type"]').value,
      key: el.querySelector('input[data-part="key"]').value.trim(),
      op: el.querySelector('select[data-part="op"]').value,
      value: el.querySelector('input[data-part="value"]').value.trim(),
    }));
  // Applies the rows that say enough; the others wait on screen.
  const sync = () => {
    const all = read();
    filterDrafts.set(group, all);
    const applied = all.filter(rowComplete).map(formatWhere);
    if (!sameList(applied, state[group] ?? [])) update({ [group]: applied });
  };
  rows.append(...shownRows(group).map((row) => filterRow(group, row, sync)));
  const add = h(
    'button',
    {
      type: 'button',
      class: 'quiet add',
      'data-testid': `add-${group}`,
      onclick: () => {
        const el = filterRow(group, { type: 'event', key: '', op: 'eq', value: '' }, sync);
        rows.append(el);
        filterDrafts.set(group, read());
        el.querySelector('input[data-part="key"]').focus();
      },
    },
    t('filter.add'),
  );
  return h(
    'div',
    { class: 'filter-group', 'data-testid': `filters-${group}` },
    h('span', { class: 'filter-label', text: t(FILTER_LABELS[group]) }),
    rows,
    add,
  );
}

function filterRow(group, row, sync) {
  const listOf = (type) => (type === 'person' ? 'dl-person-properties' : 'dl-properties');
  const key = h('input', {
    type: 'text',
    name: `${group}-key`,
    dataset: { part: 'key' },
    list: listOf(row.type),
    value: row.key,
    placeholder: t('filter.key'),
    'aria-label': t('filter.key'),
    size: 16,
    autocomplete: 'off',
    onchange: sync,
  });
  const type = h(
    'select',
    {
      name: `${group}-type`,
      dataset: { part: 'type' },
      'aria-label': t('filter.type'),
      onchange: (e) => {
        key.setAttribute('list', listOf(e.target.value));
        sync();
      },
    },
    ...['event', 'person'].map((v) => h('option', { value: v, selected: v === row.type ? true : undefined }, t(`filter.type.${v}`))),
  );
  const value = h('input', {
    type: 'text',
    name: `${group}-value`,
    dataset: { part: 'value' },
    value: row.value,
    placeholder: t('filter.value'),
    title: t('filter.value_hint'),
    'aria-label': t('filter.value'),
    size: 14,
    autocomplete: 'off',
    hidden: NO_VALUE.includes(row.op),
    onchange: sync,
  });
  // An operator the address names but the page does not know stays as it is, so the API can say what is wrong.
  const ops = OPERATORS.includes(row.op) ? OPERATORS : [...OPERATORS, row.op];
  const op = h(
    'select',
    {
      name: `${group}-op`,
      dataset: { part: 'op' },
      'aria-label': t('filter.operator'),
      onchange: (e) => {
        value.hidden = NO_VALUE.includes(e.target.value);
        sync();
      },
    },
    ...ops.map((o) => h('option', { value: o, selected: o === row.op ? true : undefined }, OPERATORS.includes(o) ? t(`op.${o}`) : o || '?')),
  );
  const el = h(
    'div',
    { class: 'filter-row', 'data-testid': `filter-${group}` },
    type,
    key,
    op,
    value,
    h(
      'button',
      {
        type: 'button',
        class: 'quiet remove',
        title: t('filter.remove'),
        'aria-label': t('filter.remove'),
        onclick: () => {
          el.remove();
          sync();
        },
      },
      '×',
    ),
  );
  return el;
}

function timeZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC', 'Asia/Shanghai', 'Europe/London', 'America/New_York'];
  }
}

function field(labelKey, input) {
  return h('label', { class: 'field' }, h('span', { text: t(labelKey) }), input);
}

function projectsControl() {
  const chips = session.projects.map((p) => {
    const on = state.projects.includes(p);
    return h(
      'label',
      { class: `chip${on ? ' on' : ''}` },
      h('input', {
        type: 'checkbox',
        name: 'project',
        value: p,
        checked: on,
        onchange: (e) => {
          const chosen = session.projects.filter((x) => (x === p ? e.target.checked : state.projects.includes(x)));
          if (!chosen.length) {
            e.target.checked = true;
            return;
          }
          update({ projects: chosen });
        },
      }),
      p,
    );
  });
  return h('div', { class: 'field' }, h('label', { class: 'field' }, h('span', { text: t('ctl.projects') })), h('div', { class: 'projects', 'data-testid': 'projects' }, chips));
}

function controlField(control) {
  const value = state[control.key] ?? '';
  const name = control.key;
  switch (control.type) {
    case 'select':
      return field(
        control.label,
        h(
          'select',
          {
            name,
            onchange: (e) => update({ [name]: e.target.value, ...(control.onChange ? control.onChange(e.target.value) : {}) }),
          },
          ...control.options.map((o) => h('option', { value: o, selected: o === value ? true : undefined }, control.optionLabel(o))),
        ),
      );
    case 'number':
      return field(
        control.label,
        h('input', { type: 'number', name, min: control.min ?? 1, max: control.max, value, onchange: (e) => update({ [name]: e.target.value }) }),
      );
    case 'check':
      return h(
        'label',
        { class: 'field check' },
        h('input', { type: 'checkbox', name, checked: value === '1', onchange: (e) => update({ [name]: e.target.checked ? '1' : '0' }) }),
        t(control.label),
      );
    case 'event':
    case 'property':
    case 'numeric':
    case 'text': {
      const list = { event: 'dl-events', property: 'dl-breakdown', numeric: 'dl-numeric' }[control.type];
      const placeholder =
        control.type === 'event' ? t('ctl.any_event') : control.type === 'property' ? t('ctl.breakdown.none') : control.placeholder ?? '';
      return field(
        control.label,
        h('input', {
          type: 'text',
          name,
          list,
          value,
          placeholder,
          title: control.type === 'property' ? t('ctl.breakdown.hint') : undefined,
          size: control.size ?? 18,
          autocomplete: 'off',
          onchange: (e) => update({ [name]: e.target.value.trim() }),
        }),
      );
    }
    default:
      throw new Error(`unknown control type ${control.type}`);
  }
}

function update(changes) {
  commit({ ...state, ...changes });
  render();
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces of every report view: notes, evidence, downloads, tables, CSV.

function colLabel(period, n) {
  return t(`col.${period}`, { n });
}

const NOTE_RANK = { no_data: 0, empty_window: 1, data_ends_before_window: 2, event_not_found: 3, partial_periods: 5, window_ends_before_as_of: 6 };

function reportNotes(reports, { onShowData } = {}) {
  const seen = new Set();
  const notes = [];
  for (const r of reports) {
    for (const note of r.json.provenance?.notes ?? []) {
      if (seen.has(note.text)) continue;
      seen.add(note.text);
      notes.push({ note, report: r });
    }
  }
  notes.sort((a, b) => (NOTE_RANK[a.note.code] ?? 4) - (NOTE_RANK[b.note.code] ?? 4));
  const items = notes.map(({ note, report: r }) => {
    const strong = (NOTE_RANK[note.code] ?? 4) < 4;
    const box = h(
      'li',
      { class: strong ? 'strong' : '', 'data-testid': 'note', dataset: { code: note.code } },
      note.text,
      h('span', { class: 'code', text: note.code }),
    );
    if (onShowData && (note.code === 'empty_window' || note.code === 'no_data')) {
      const p = (r.json.provenance.projects ?? []).find((x) => x.project === (note.project ?? r.project));
      if (p?.first_event && p?.last_event) {
        const from = p.first_event.slice(0, 10);
        const to = p.last_event.slice(0, 10);
        box.append(
          h('div', {}, h('button', { type: 'button', class: 'quiet', 'data-testid': 'show-data', onclick: () => onShowData(from, to) }, t('note.show_data', { from: fmtDay(from), to: fmtDay(to) }))),
        );
      }
    }
    return box;
  });
  return items.length ? [h('div', { class: 'note' }, h('div', { class: 'note-title', text: t('note.title') }), h('ul', {}, items))] : [];
}

function showNotes(reports) {
  $('notes').replaceChildren(...reportNotes(reports, { onShowData: (from, to) => update({ from, to }) }));
}

/// Whether every report read no event at all (then the notes say where the data is, and no empty chart is drawn).
function allEmpty(reports) {
  return reports.length > 0 && reports.every((r) => (r.json.provenance?.events_in_scope ?? 1) === 0);
}

function evidence(reports, { extra = [] } = {}) {
  if (!reports.length) return null;
  const definitions = new Map();
  for (const r of reports) if (r.json.definition && !definitions.has(r.json.definition)) definitions.set(r.json.definition, r.kind);
  const kinds = new Set(definitions.values());
  const asOf = [...new Set(reports.map((r) => r.json.provenance?.as_of ?? r.json.parameters?.as_of).filter(Boolean).map((a) => fmtInstant(a)))];
  const rows = [];
  const byProject = new Map();
  for (const r of reports) {
    for (const p of r.json.provenance?.projects ?? []) if (!byProject.has(p.project)) byProject.set(p.project, { p, r });
  }
  const ranges = [...byProject.values()].map(({ p }) =>
    h(
      'div',
      { 'data-testid': `extent-${p.project}` },
      p.first_event
        ? t('evidence.data_range', { project: p.project, first: fmtInstant(p.first_event), last: fmtInstant(p.last_event) })
        : t('evidence.no_events', { project: p.project }),
    ),
  );
  const fingerprints = reports.map((r) =>
    h('div', {}, `${r.project} · ${r.kind}: `, h('span', { class: 'mono', title: r.json.provenance?.data_fingerprint ?? '' }, r.json.provenance?.data_fingerprint ?? t('common.none'))),
  );
  const scopeByProject = new Map();
  for (const r of reports) {
    const line = `${kindsCount(reports) > 1 ? `${t(`view.${r.kind}`)} ` : ''}${fmtInt(r.json.provenance?.events_in_scope ?? null)}`;
    scopeByProject.set(r.project, [...(scopeByProject.get(r.project) ?? []), line]);
  }
  const inScope = [...scopeByProject].map(([project, lines]) => h('div', {}, `${project}: ${lines.join(' · ')}`));
  rows.push([t('evidence.as_of'), asOf.join(', ')]);
  rows.push([t('evidence.data'), ranges]);
  rows.push([t('evidence.in_scope'), inScope]);
  rows.push(...extra);
  rows.push([t('evidence.fingerprint'), fingerprints]);
  rows.push([t('evidence.engine'), [...new Set(reports.map((r) => r.json.provenance?.engine).filter(Boolean))].join(', ')]);
  return h(
    'div',
    { class: 'card evidence', 'data-testid': 'evidence' },
    h('h2', { text: t('evidence.title') }),
    h(
      'div',
      { class: 'definition', 'data-testid': 'definition' },
      ...[...definitions].map(([d, kind]) => h('p', {}, kinds.size > 1 ? h('b', {}, `${t(`view.${kind}`)}: `) : null, d)),
    ),
    h('dl', {}, ...rows.flatMap(([label, value]) => [h('dt', { text: label }), h('dd', {}, value)])),
  );
}

function kindsCount(reports) {
  return new Set(reports.map((r) => r.kind)).size;
}

function download(name, content, type) {
  const url = typeof content === 'string' && content.startsWith('data:') ? content : URL.createObjectURL(new Blob([content], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  if (!url.startsWith('data:')) setTimeout(() => URL.revokeObjectURL(url), 5000);
}

function csvText(header, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

/// The view's title and its download menu: the reports' JSON as served, a CSV, and each chart as SVG and PNG.
function viewHead(title, { reports = [], csv = null, chartList = () => [] } = {}) {
  const menu = h('div', { class: 'menu' });
  const details = h('details', { class: 'download', 'data-testid': 'download' }, h('summary', {}, `${t('download.button')} ▾`), menu);
  // Each entry closes the menu once it has handed its file over.
  const item = (id, label, act) =>
    h('button', { type: 'button', dataset: { download: id }, onclick: () => { details.open = false; act(); } }, label);
  details.addEventListener('toggle', () => {
    if (!details.open) return;
    const items = [];
    for (const r of reports) {
      items.push(
        item(`json:${r.project}:${r.kind}`, t('download.json', { project: `${r.project} · ${t(`view.${r.kind}`)}` }), () =>
          download(`${r.kind}-${r.project}.json`, r.text, 'application/json'),
        ),
      );
    }
    if (csv) items.push(item('csv', t('download.csv'), () => download(`${state.view}.csv`, csv(), 'text/csv;charset=utf-8')));
    for (const { name, chart } of chartList()) {
      const file = name.replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-|-$/g, '') || 'chart';
      items.push(item(`svg:${file}`, t('download.svg', { chart: name }), () => download(`${file}.svg`, charts.svgText(chart), 'image/svg+xml')));
      items.push(item(`png:${file}`, t('download.png', { chart: name }), () => download(`${file}.png`, charts.pngDataUrl(chart), 'image/png')));
    }
    if (reports.length) items.push(h('div', { class: 'hint', text: t('download.verify') }));
    menu.replaceChildren(...items);
  });
  return h('div', { class: 'view-head' }, h('h1', { text: title }), reports.length || csv ? details : null);
}

function table(headers, rows, { numeric = [] } = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data' },
      h('thead', {}, h('tr', {}, ...headers.map((x, i) => h('th', { class: numeric.includes(i) ? 'num' : null }, x)))),
      h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((x, i) => (x instanceof Node && x.tagName === 'TD' ? x : h('td', { class: numeric.includes(i) ? 'num' : null }, x)))))),
    ),
  );
}

function rateCell(rate, ci, testid) {
  return h('td', { class: 'num' }, h('span', { 'data-testid': testid }, fmtPct(rate)), ci ? h('span', { class: 'ci' }, `${fmtPct(ci[0])}–${fmtPct(ci[1])}`) : null);
}

function chartCard(title, { height = 320, extra = null, head = null } = {}) {
  const el = h('div', { class: 'chart' });
  const card = h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: title }), head), el, extra);
  return { card, el, height, title };
}

function kpi(label, value, { ci = null, swatch = null, testid = null, sub = null } = {}) {
  return h(
    'div',
    { class: 'kpi' },
    h('div', { class: 'label' }, swatch ? h('span', { class: 'swatch', style: `background:${swatch}` }) : null, label),
    h('div', { class: 'value', 'data-testid': testid }, value),
    ci ? h('div', { class: 'ci' }, ci) : null,
    sub ? h('div', { class: 'ci' }, sub) : null,
  );
}

function projectColor(project) {
  return charts.color(Math.max(0, session.projects.indexOf(project)));
}

// ---------------------------------------------------------------------------------------------------------------
// Views.

const VIEWS = {
  overview: {
    filters: ['where'],
    dated: true,
    zoned: false,
    controls: [],
    span: (s, end) => addDays(end, -59),
    render: renderOverview,
  },
  retention: {
    filters: FILTER_KEYS,
    dated: true,
    zoned: true,
    controls: [
      { ...periodControl('period', 'day'), onChange: (v) => ({ intervals: String(DEFAULT_INTERVALS[v]) }) },
      { key: 'intervals', type: 'number', label: 'ctl.intervals', min: 1, max: 120, default: (s) => DEFAULT_INTERVALS[s.period] ?? 8 },
      {
        key: 'type',
        type: 'select',
        label: 'ctl.type',
        options: ['first_time', 'recurring', 'first_ever'],
        optionLabel: (v) => t(`type.${v}`),
        default: 'first_time',
      },
      eventControl('target', 'ctl.target'),
      eventControl('returning', 'ctl.returning'),
      breakdownControl,
      { key: 'cumulative', type: 'check', label: 'ctl.cumulative', default: '0' },
    ],
    span: (s, end) => spanBack(s.period, end, { day: 58, week: 12, month: 6, hour: 1 }),
    render: renderRetention,
  },
  trends: {
    filters: ['where'],
    dated: true,
    zoned: true,
    controls: [
      periodControl('interval', 'day', 'ctl.interval'),
      eventControl('event'),
      {
        key: 'math',
        type: 'select',
        label: 'ctl.math',
        options: ['dau', 'wau', 'mau', 'dau_mau', 'total', 'unique_persons', 'sum', 'avg', 'min', 'max', 'median', 'p90', 'p95', 'p99'],
        optionLabel: (v) => t(`math.${v}`),
        default: 'dau',
      },
      { key: 'prop', type: 'numeric', label: 'ctl.math_property', default: '' },
      breakdownControl,
    ],
    span: (s, end) => spanBack(s.interval, end),
    render: renderTrends,
  },
  stickiness: {
    filters: ['where'],
    dated: true,
    zoned: true,
    controls: [periodControl('interval', 'day', 'ctl.interval'), eventControl('event')],
    span: (s, end) => spanBack(s.interval, end),
    render: renderStickiness,
  },
  lifecycle: {
    filters: ['where'],
    dated: true,
    zoned: true,
    controls: [periodControl('interval', 'week', 'ctl.interval'), eventControl('event')],
    span: (s, end) => spanBack(s.interval, end),
    render: renderLifecycle,
  },
  growth: {
    filters: ['where'],
    dated: false,
    zoned: true,
    controls: [
      {
        key: 'metric',
        type: 'select',
        label: 'ctl.metric',
        options: ['cumulative_persons', 'mau'],
        optionLabel: (v) => t(`metric.${v}`),
        default: 'cumulative_persons',
      },
      { key: 'milestones', type: 'text', label: 'ctl.milestones', default: '100,1000,10000', size: 16 },
      eventControl('event'),
    ],
    render: renderGrowth,
  },
  funnels: {
    filters: ['where'],
    dated: true,
    zoned: true,
    controls: [
      { key: 'steps', type: 'text', label: 'ctl.steps', default: '', size: 40, placeholder: '$pageview, $identify, …' },
      { key: 'window', type: 'number', label: 'ctl.window', min: 1, default: '14' },
      {
        key: 'unit',
        type: 'select',
        label: 'ctl.window_unit',
        options: ['minute', 'hour', 'day', 'week', 'month'],
        optionLabel: (v) => t(`unit.${v}`),
        default: 'day',
      },
    ],
    span: (s, end) => addDays(end, -59),
    render: renderFunnels,
  },
  economics: {
    filters: ['where'],
    dated: true,
    zoned: true,
    controls: [periodControl('period', 'month'), { key: 'currency', type: 'text', label: 'ctl.currency', default: 'USD', size: 5 }],
    span: (s, end) => spanBack(s.period, end, { day: 59, week: 12, month: 6, hour: 1 }),
    render: renderEconomics,
  },
  quarantine: {
    filters: [],
    dated: false,
    zoned: false,
    controls: [
      { key: 'reason', type: 'text', label: 'ctl.reason', default: '', placeholder: t('ctl.reason.all'), size: 18 },
      { key: 'limit', type: 'number', label: 'ctl.limit', min: 1, max: 10000, default: '100' },
    ],
    render: renderQuarantine,
  },
};

// Overview ------------------------------------------------------------------------------------------------------

async function renderOverview(ctx) {
  const { s, content } = ctx;
  const dates = common(s);
  const jobs = s.projects.map(async (project) => {
    const [retention, trends, economics] = await Promise.all([
      fetchReport(project, 'retention', { ...dates, retention_type: 'first_time', period: 'day', total_intervals: 31 }),
      fetchReport(project, 'trends', { ...dates, interval: 'day', series: [{ entity: entity(null), math: 'dau_mau' }] }),
      fetchReport(project, 'economics', { ...dates, period: 'month' }).catch((error) => ({ project, kind: 'economics', error })),
    ]);
    return { project, retention, trends, economics };
  });
  const results = await Promise.all(jobs);
  ctx.check();
  const reports = results.flatMap((r) => [r.retention, r.trends, r.economics.error ? null : r.economics]).filter(Boolean);
  // The economics notes (unpriced AI events, amounts without an exchange rate) stand in the table's money cells.
  showNotes(reports.filter((r) => r.kind !== 'economics'));
  let curvesChart = null;
  let dauChart = null;
  let econChart = null;
  content.append(
    viewHead(t('view.overview'), {
      reports,
      csv: () => overviewCsv(results),
      chartList: () => [curvesChart, dauChart, econChart].filter(Boolean),
    }),
  );
  content.append(h('p', { class: 'sub', 'data-testid': 'window' }, t('overview.window', { from: fmtDay(s.from), to: fmtDay(s.to) })));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }

  // The one table a product manager reads: retention with intervals, DAU/MAU and money, a row per project.
  const head = [
    t('common.project'),
    t('overview.day', { n: 1 }),
    t('overview.day', { n: 7 }),
    t('overview.day', { n: 30 }),
    `${t('overview.dau_mau')}`,
    t('overview.revenue'),
    t('overview.cost'),
    t('overview.margin'),
  ];
  const rows = results.map(({ project, retention, trends, economics }) => {
    const mean = retention.json.mean?.find((m) => m.project === project) ?? retention.json.mean?.[0];
    const at = (n) => rateCell(mean?.rates?.[n] ?? null, mean?.ci95?.[n] ?? null, `kpi-${project}-day${n}`);
    const series = trends.json.series?.[0];
    const dauMau = series?.average ?? averageOf(series?.points?.map((p) => p.value));
    const money = economicsTotals(economics);
    return [
      h('td', {}, h('span', { style: `color:${projectColor(project)}` }, '■ '), project),
      at(1),
      at(7),
      at(30),
      h('td', { class: 'num' }, h('span', { 'data-testid': `kpi-${project}-daumau` }, fmtPct(dauMau ?? null))),
      h('td', { class: 'num' }, money.text.revenue, ...money.unconverted.map((u) => h('span', { class: 'ci' }, t('overview.unconverted', { amount: fmtMoney(u.gross_revenue, u.currency) })))),
      h('td', { class: 'num' }, money.text.cost, money.unpriced ? h('span', { class: 'ci' }, t('overview.unpriced', { n: fmtInt(money.unpriced) })) : null),
      h('td', { class: 'num' }, money.text.margin),
    ];
  });
  content.append(
    h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', { text: t('overview.retention') }), h('span', { class: 'sub', text: t('overview.retention.sub') })),
      table(head, rows, { numeric: [1, 2, 3, 4, 5, 6, 7] }),
    ),
  );

  const curves = chartCard(t('overview.curves'));
  const dau = chartCard(t('overview.dau_mau.chart'), { height: 280 });
  content.append(curves.card);
  const pair = h('div', { class: 'grid2' }, dau.card);
  const withMoney = results.filter((r) => !r.economics.error && economicsTotals(r.economics).hasData);
  const econ = withMoney.length ? chartCard(t('overview.econ.chart'), { height: 280 }) : null;
  if (econ) pair.append(econ.card);
  content.append(pair);

  const columns = results[0].retention.json.columns.map((_, j) => colLabel('day', j));
  curvesChart = {
    name: curves.title,
    chart: charts.mount(
      curves.el,
      charts.curvesWithBands(
        columns,
        results.map(({ project, retention }) => {
          const mean = retention.json.mean.find((m) => m.project === project) ?? retention.json.mean[0];
          return { name: project, values: mean.rates, ci: mean.ci95, color: projectColor(project) };
        }),
      ),
      curves.height,
    ),
  };
  const days = unionPeriods(results.map((r) => r.trends.json));
  dauChart = {
    name: dau.title,
    chart: charts.mount(
      dau.el,
      charts.lines(
        days.map((d) => fmtPeriod(d, 'day', spansYears(days))),
        results.map(({ project, trends }) => ({ name: project, values: alignPoints(days, trends.json.series[0]?.points ?? []), color: projectColor(project) })),
        { yPct: true },
      ),
      dau.height,
    ),
  };
  if (econ) {
    const totals = withMoney.map((r) => economicsTotals(r.economics));
    econChart = {
      name: econ.title,
      chart: charts.mount(
        econ.el,
        charts.bars(
          withMoney.map((r) => r.project),
          [
            { name: t('overview.revenue'), values: totals.map((x) => x.revenue), color: '#0072B2' },
            { name: t('overview.cost'), values: totals.map((x) => x.cost), color: '#D55E00' },
          ],
          { format: (v) => fmtMoney(v, totals[0].currency) },
        ),
        econ.height,
      ),
    };
  }
  content.append(evidence(reports, { extra: [[t('evidence.cohorts'), cohortSizes(results.map((r) => r.retention))]] }));
}

/// Whether period starts cross a new year, so their labels need the year.
function spansYears(isos) {
  return new Set(isos.filter(Boolean).map((iso) => iso.slice(0, 4))).size > 1;
}

function averageOf(values) {
  const xs = (values ?? []).filter((v) => v !== null && v !== undefined);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function economicsTotals(report) {
  if (!report || report.error) {
    const text = { revenue: t('common.none'), cost: t('common.none'), margin: t('common.none') };
    return { hasData: false, text, revenue: 0, cost: 0, unpriced: 0, unconverted: [] };
  }
  const json = report.json;
  const total = json.totals?.find((x) => x.project === report.project) ?? json.totals?.[0] ?? {};
  const revenue = Number(total.net_revenue ?? 0);
  const cost = Number(total.inference_cost ?? 0);
  const profit = Number(total.gross_profit ?? revenue - cost);
  const unpriced = (json.provenance?.costing?.unpriced ?? []).reduce((n, u) => n + (u.events ?? 0), 0);
  const unconverted = (json.unconverted ?? []).filter((u) => (u.project ?? report.project) === report.project && Number(u.gross_revenue) !== 0);
  const hasData = revenue !== 0 || cost !== 0;
  const currency = json.currency ?? 'USD';
  return {
    hasData,
    revenue,
    cost,
    profit,
    currency,
    unpriced,
    unconverted,
    text: {
      revenue: hasData || unconverted.length ? fmtMoney(revenue, currency) : t('overview.no_revenue'),
      cost: fmtMoney(cost, currency),
      // With unpriced AI events the cost is a lower bound, so the margin is an upper bound.
      margin: revenue > 0 ? `${unpriced ? '≤ ' : ''}${fmtPct(profit / revenue)}` : t('common.none'),
    },
  };
}

function overviewCsv(results) {
  const rows = results.map(({ project, retention, trends, economics }) => {
    const mean = retention.json.mean?.find((m) => m.project === project) ?? retention.json.mean?.[0];
    const series = trends.json.series?.[0];
    const money = economicsTotals(economics);
    const r = (n) => [mean?.rates?.[n] ?? null, mean?.ci95?.[n]?.[0] ?? null, mean?.ci95?.[n]?.[1] ?? null];
    return [project, ...r(1), ...r(7), ...r(30), series?.average ?? null, money.revenue, money.cost, money.currency];
  });
  return csvText(
    ['project', 'day1', 'day1_ci_low', 'day1_ci_high', 'day7', 'day7_ci_low', 'day7_ci_high', 'day30', 'day30_ci_low', 'day30_ci_high', 'dau_mau_average', 'net_revenue', 'inference_cost', 'currency'],
    rows,
  );
}

function unionPeriods(reportJsons) {
  const set = new Set();
  for (const json of reportJsons) for (const s of json.series ?? []) for (const p of s.points ?? []) set.add(p.period_start);
  return [...set].sort();
}

function alignPoints(periods, points) {
  const byStart = new Map(points.map((p) => [p.period_start, p.value]));
  return periods.map((p) => (byStart.has(p) ? byStart.get(p) : null));
}

function cohortSizes(retentionReports) {
  return retentionReports.map((r) => {
    const rows = (r.json.rows ?? []).filter((row) => row.project === r.project || !row.project);
    const sizes = rows.map((row) => row.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    const small = sizes.filter((n) => n > 0 && n < SMALL_COHORT).length;
    return h(
      'div',
      {},
      t('evidence.cohort_line', {
        project: r.project,
        persons: fmtInt(total),
        cohorts: fmtInt(rows.length),
        min: fmtInt(sizes.length ? Math.min(...sizes) : 0),
        max: fmtInt(sizes.length ? Math.max(...sizes) : 0),
        small: fmtInt(small),
      }),
    );
  });
}

// Retention -----------------------------------------------------------------------------------------------------

function retentionParams(s) {
  return {
    ...common(s),
    period: s.period,
    total_intervals: Number(s.intervals),
    retention_type: s.type,
    target: entity(s.target, filtersOf(s, 'target_where')),
    returning: entity(s.returning, filtersOf(s, 'returning_where')),
    breakdown: breakdownOf(s.breakdown),
    cumulative: s.cumulative === '1',
  };
}

async function renderRetention(ctx) {
  const { s, content } = ctx;
  const params = retentionParams(s);
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'retention', params)));
  ctx.check();
  showNotes(reports);
  let curvesChart = null;
  let heatChart = null;
  content.append(
    viewHead(t('view.retention'), { reports, csv: () => retentionCsv(reports), chartList: () => [curvesChart, heatChart].filter(Boolean) }),
  );
  if (allEmpty(reports)) {
    content.append(evidence(reports, { extra: [[t('evidence.cohorts'), cohortSizes(reports)]] }));
    return;
  }
  const period = s.period;
  const means = reports.flatMap((r) => r.json.mean.map((m) => ({ ...m, project: m.project ?? r.project })));
  const nameOf = (m) => (m.breakdown_value !== null && m.breakdown_value !== undefined) || m.is_other ? `${m.project} · ${m.is_other ? t('common.other') : m.breakdown_value}` : m.project;

  // Key numbers: the mean of period 1 and of a later period, with their 95% intervals.
  const ncols = reports[0].json.columns.length;
  const later = Math.min(ncols - 1, period === 'day' ? 7 : period === 'week' ? 4 : period === 'month' ? 3 : 6);
  const cards = means.slice(0, 12).flatMap((m) => {
    const { color } = lineLook(m, means, reports);
    const out = [];
    if (ncols > 1) {
      out.push(
        kpi(`${nameOf(m)} · ${colLabel(period, 1)}`, fmtPct(m.rates[1]), {
          ci: m.ci95[1] ? fmtInterval(m.ci95[1]) : null,
          swatch: color,
          testid: `mean-${m.project}-1${m.breakdown_value ? `-${m.breakdown_value}` : ''}`,
          sub: t('retention.mean_rows', { rows: fmtInt(m.rows_used[1]), persons: fmtInt(m.persons[1]) }),
        }),
      );
    }
    if (later > 1 && means.length <= 6) {
      out.push(
        kpi(`${nameOf(m)} · ${colLabel(period, later)}`, fmtPct(m.rates[later]), {
          ci: m.ci95[later] ? fmtInterval(m.ci95[later]) : null,
          swatch: color,
          testid: `mean-${m.project}-${later}${m.breakdown_value ? `-${m.breakdown_value}` : ''}`,
          sub: t('retention.mean_rows', { rows: fmtInt(m.rows_used[later]), persons: fmtInt(m.persons[later]) }),
        }),
      );
    }
    return out;
  });
  content.append(h('div', { class: 'kpis' }, cards));

  const columns = reports[0].json.columns.map((_, j) => colLabel(period, j));
  const curves = chartCard(t('retention.curves', { period: t(`period.${period}`) }), { height: 340 });
  content.append(curves.card);
  curvesChart = {
    name: curves.title,
    chart: charts.mount(
      curves.el,
      charts.curvesWithBands(
        columns,
        means.slice(0, 21).map((m) => ({
          name: nameOf(m),
          values: m.rates,
          ci: m.ci95,
          ...lineLook(m, means, reports),
        })),
      ),
      curves.height,
    ),
  };

  // The triangle of one project at a time; the buttons pick which.
  const heatProject = s.projects.includes(s.heat) ? s.heat : s.projects[0];
  const picker =
    s.projects.length > 1
      ? h(
          'div',
          { class: 'segmented', 'data-testid': 'heat-picker' },
          ...s.projects.map((p) =>
            h('button', { type: 'button', 'aria-pressed': String(p === heatProject), onclick: () => update({ heat: p }) }, p),
          ),
        )
      : null;
  const legend = h(
    'div',
    { class: 'legend-marks' },
    h('span', {}, h('i', { class: 'scale' }), t('retention.legend.scale')),
    h('span', {}, h('i', { class: 'hatch' }), t('retention.legend.incomplete')),
    h('span', {}, h('i', { class: 'dotted' }), t('retention.legend.partial')),
    h('span', {}, h('i', { class: 'faded' }), t('retention.legend.small')),
  );
  const heat = chartCard(t('retention.heatmap', { project: heatProject }), { head: picker, extra: legend });
  content.append(heat.card);
  const report = reports[s.projects.indexOf(heatProject)];
  const rows = report.json.rows.filter((r) => (r.project ?? heatProject) === heatProject);
  const hasBreakdown = rows.some((r) => r.breakdown_value !== null || r.is_other);
  const withYear = spansYears(rows.map((r) => r.cohort_start));
  const { option, height } = charts.retentionHeatmap(
    rows,
    columns,
    (r) => `${fmtPeriod(r.cohort_start, period, withYear)}${hasBreakdown ? ` · ${r.is_other ? t('common.other') : r.breakdown_value}` : ''}\u0001${fmtInt(r.size)}`,
    { width: heat.el.clientWidth || 1100, smallCohort: SMALL_COHORT },
  );
  heatChart = { name: heat.title, chart: charts.mount(heat.el, option, height) };

  // The mean as a table, every column, with intervals and the cohorts behind each.
  const head = [t('common.project'), ...columns];
  const body = means.map((m) => [
    nameOf(m),
    ...m.rates.map((rate, j) => h('td', { class: 'num' }, fmtPct(rate), m.ci95[j] ? h('span', { class: 'ci' }, `${fmtPct(m.ci95[j][0])}–${fmtPct(m.ci95[j][1])}`) : null, h('span', { class: 'ci' }, fmtInt(m.persons[j])))),
  ]);
  content.append(h('div', { class: 'card' }, h('h2', { text: t('retention.mean') }), table(head, body, { numeric: columns.map((_, j) => j + 1) })));
  content.append(evidence(reports, { extra: [[t('evidence.cohorts'), cohortSizes(reports)]] }));
}

/// A project's colour without a breakdown; with one, a colour per breakdown value and a dash per project.
function lineLook(m, means, reports) {
  if (means.length === reports.length) return { color: projectColor(m.project) };
  const values = [...new Set(means.map((x) => (x.is_other ? '\u0000other' : String(x.breakdown_value))))];
  const value = m.is_other ? '\u0000other' : String(m.breakdown_value);
  const dashes = ['solid', 'dashed', 'dotted'];
  return { color: charts.color(values.indexOf(value)), dash: dashes[reports.findIndex((r) => r.project === m.project) % dashes.length] };
}

function retentionCsv(reports) {
  const rows = [];
  for (const r of reports) {
    for (const row of r.json.rows) {
      row.counts.forEach((count, j) => {
        if (count === null) return;
        rows.push([
          row.project ?? r.project,
          row.breakdown_value,
          row.is_other,
          row.cohort_start,
          row.size,
          j,
          count,
          row.rates[j],
          row.ci95[j]?.[0] ?? null,
          row.ci95[j]?.[1] ?? null,
          row.incomplete[j],
          row.beyond_data[j],
        ]);
      });
    }
  }
  return csvText(['project', 'breakdown_value', 'is_other', 'cohort_start', 'cohort_size', 'period', 'count', 'rate', 'ci95_low', 'ci95_high', 'incomplete', 'beyond_data'], rows);
}

// Trends --------------------------------------------------------------------------------------------------------

const PROPERTY_MATH = ['sum', 'avg', 'min', 'max', 'median', 'p90', 'p95', 'p99'];

async function renderTrends(ctx) {
  const { s, content } = ctx;
  const params = {
    ...common(s),
    interval: s.interval,
    series: [{ entity: entity(s.event), math: s.math, math_property: PROPERTY_MATH.includes(s.math) ? s.prop || null : null }],
    breakdown: breakdownOf(s.breakdown),
  };
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'trends', params)));
  ctx.check();
  showNotes(reports);
  let chart = null;
  content.append(viewHead(t('view.trends'), { reports, csv: () => trendsCsv(reports), chartList: () => (chart ? [chart] : []) }));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }
  const isRatio = s.math === 'dau_mau';
  const isCount = !PROPERTY_MATH.includes(s.math);
  const format = (v) => (isRatio ? fmtPct(v) : isCount ? fmtInt(v) : fmtNum(v, 2));
  const series = reports.flatMap((r) =>
    r.json.series.map((x) => ({ ...x, project: x.project ?? r.project, name: `${x.project ?? r.project}${x.breakdown_value !== null && x.breakdown_value !== undefined ? ` · ${x.breakdown_value}` : x.is_other ? ` · ${t('common.other')}` : ''}` })),
  );
  const periods = unionPeriods(reports.map((r) => r.json));
  const cards = series.slice(0, 8).map((x, i) => {
    const values = x.points.map((p) => p.value);
    const avg = x.average ?? averageOf(values);
    return kpi(`${x.name} · ${t('common.average')}`, format(avg), {
      swatch: series.length === reports.length ? projectColor(x.project) : charts.color(i),
      testid: `trend-${x.project}-${i}`,
      sub: `${t('common.last')}: ${format(values[values.length - 1] ?? null)}`,
    });
  });
  content.append(h('div', { class: 'kpis' }, cards));
  const card = chartCard(`${t(`math.${s.math}`)}${s.prop && !isCount ? ` · ${s.prop}` : ''} · ${s.event || t('ctl.any_event')}`, { height: 360 });
  content.append(card.card);
  chart = {
    name: card.title,
    chart: charts.mount(
      card.el,
      charts.lines(
        periods.map((p) => fmtPeriod(p, s.interval, spansYears(periods))),
        series.slice(0, 20).map((x, i) => ({
          name: x.name,
          values: alignPoints(periods, x.points),
          color: series.length === reports.length ? projectColor(x.project) : charts.color(i),
        })),
        { yPct: isRatio, format: (v) => (isCount ? fmtInt(v) : fmtNum(v, 2)) },
      ),
      card.height,
    ),
  };
  const head = [t('common.project'), t('common.average'), t('common.last'), ...(series.some((x) => x.points.some((p) => p.count !== undefined)) ? [t('common.count')] : [])];
  const body = series.map((x) => {
    const values = x.points.map((p) => p.value);
    const count = x.points.reduce((n, p) => n + (p.count ?? 0), 0);
    return [x.name, format(x.average ?? averageOf(values)), format(values[values.length - 1] ?? null), ...(head.length > 3 ? [fmtInt(count)] : [])];
  });
  content.append(h('div', { class: 'card' }, table(head, body, { numeric: [1, 2, 3] })));
  content.append(evidence(reports));
}

function trendsCsv(reports) {
  const rows = [];
  for (const r of reports) {
    for (const x of r.json.series) {
      for (const p of x.points) {
        rows.push([x.project ?? r.project, x.label, x.math, x.breakdown_value ?? null, x.is_other ?? false, p.period_start, p.value, p.incomplete, p.ci95?.[0] ?? null, p.ci95?.[1] ?? null]);
      }
    }
  }
  return csvText(['project', 'series', 'math', 'breakdown_value', 'is_other', 'period_start', 'value', 'incomplete', 'ci95_low', 'ci95_high'], rows);
}

// Stickiness ----------------------------------------------------------------------------------------------------

async function renderStickiness(ctx) {
  const { s, content } = ctx;
  const params = { ...common(s), interval: s.interval, series: entity(s.event) };
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'stickiness', params)));
  ctx.check();
  showNotes(reports);
  let chart = null;
  content.append(viewHead(t('view.stickiness'), { reports, csv: () => stickinessCsv(reports), chartList: () => (chart ? [chart] : []) }));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }
  const period = t(`period.${s.interval}`);
  content.append(
    h(
      'div',
      { class: 'kpis' },
      reports.map((r) =>
        kpi(`${r.project} · ${t('stickiness.one', { period })}`, fmtPct(r.json.share?.[0] ?? null), {
          swatch: projectColor(r.project),
          ci: r.json.ci95?.[0] ? fmtInterval(r.json.ci95[0]) : null,
          sub: `${t('stickiness.persons')}: ${fmtInt(r.json.count)}`,
          testid: `stickiness-${r.project}`,
        }),
      ),
    ),
  );
  const n = Math.max(...reports.map((r) => r.json.share?.length ?? 0));
  const labels = Array.from({ length: n }, (_, i) => String(i + 1));
  const card = chartCard(t('stickiness.chart', { period }), { height: 340 });
  content.append(card.card);
  chart = {
    name: card.title,
    chart: charts.mount(
      card.el,
      charts.bars(labels, reports.map((r) => ({ name: r.project, values: r.json.share ?? [], color: projectColor(r.project) })), { pct: true, labels: n <= 10 }),
      card.height,
    ),
  };
  content.append(evidence(reports));
}

function stickinessCsv(reports) {
  const rows = [];
  for (const r of reports) (r.json.data ?? []).forEach((count, i) => rows.push([r.project, i + 1, count, r.json.share?.[i], r.json.ci95?.[i]?.[0], r.json.ci95?.[i]?.[1]]));
  return csvText(['project', 'active_periods', 'persons', 'share', 'ci95_low', 'ci95_high'], rows);
}

// Lifecycle -----------------------------------------------------------------------------------------------------

async function renderLifecycle(ctx) {
  const { s, content } = ctx;
  const params = { ...common(s), interval: s.interval, series: entity(s.event) };
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'lifecycle', params)));
  ctx.check();
  showNotes(reports);
  const chartList = [];
  content.append(viewHead(t('view.lifecycle'), { reports, csv: () => lifecycleCsv(reports), chartList: () => chartList }));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }
  const grid = h('div', { class: reports.length > 1 ? 'grid2' : '' });
  content.append(grid);
  for (const r of reports) {
    const card = chartCard(t('lifecycle.chart', { project: r.project }), { height: 300 });
    const totals = h(
      'div',
      { class: 'legend-marks' },
      ...r.json.series.map((x) => h('span', {}, `${t(`lifecycle.${x.status}`)}: ${fmtInt(x.count)}`)),
      h('span', {}, `${t('lifecycle.quick_ratio')}: ${fmtNum(r.json.periods?.[r.json.periods.length - 1]?.quick_ratio ?? null, 2)}`),
    );
    card.card.append(totals);
    grid.append(card.card);
    const starts = (r.json.periods ?? []).map((p) => p.period_start);
    const labels = starts.map((p) => fmtPeriod(p, s.interval, spansYears(starts)));
    chartList.push({
      name: card.title,
      chart: charts.mount(
        card.el,
        charts.lifecycle(labels, r.json.series.map((x) => ({ status: x.status, name: t(`lifecycle.${x.status}`), values: x.data }))),
        card.height,
      ),
    });
  }
  content.append(evidence(reports));
}

function lifecycleCsv(reports) {
  const rows = [];
  for (const r of reports) {
    for (const x of r.json.series) {
      x.data.forEach((v, i) => rows.push([r.project, r.json.periods?.[i]?.period_start ?? x.labels?.[i], x.status, v, r.json.periods?.[i]?.incomplete]));
    }
  }
  return csvText(['project', 'period_start', 'status', 'persons', 'incomplete'], rows);
}

// Growth --------------------------------------------------------------------------------------------------------

async function renderGrowth(ctx) {
  const { s, content } = ctx;
  const milestones = (s.milestones ?? '')
    .split(/[\s,]+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const params = { metric: s.metric, entity: entity(s.event), ...(milestones.length ? { milestones } : {}), ...globalFilters(s) };
  if (s.tz) params.timezone = s.tz;
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'growth', params)));
  ctx.check();
  showNotes(reports);
  let chart = null;
  content.append(viewHead(t('view.growth'), { reports, csv: () => growthCsv(reports), chartList: () => (chart ? [chart] : []) }));
  const entries = reports.flatMap((r) => (r.json.projects ?? []).map((p) => ({ ...p, project: p.project ?? r.project })));
  content.append(
    h(
      'div',
      { class: 'kpis' },
      entries.map((p) =>
        kpi(`${p.project} · ${t('growth.current')}`, fmtInt(p.current), {
          swatch: projectColor(p.project),
          testid: `growth-${p.project}`,
          sub: (p.milestones ?? []).map((m) => (m.days === null ? t('growth.not_reached', { n: fmtInt(m.n) }) : t('growth.reached', { n: fmtInt(m.n), days: fmtInt(m.days) }))).join(' · '),
        }),
      ),
    ),
  );
  // The curves run to as_of; past a week after the last change of any project they only repeat the last value.
  const lastChange = entries.map((p) => {
    const curve = p.curve ?? [];
    let last = 0;
    curve.forEach((c, i) => {
      if (i > 0 && c.value !== curve[i - 1].value) last = i;
    });
    return last;
  });
  const maxDays = Math.min(Math.max(0, ...entries.map((p) => (p.curve ?? []).length)), Math.max(0, ...lastChange) + 8);
  const card = chartCard(`${t('growth.chart')} · ${t(`metric.${s.metric}`)}`, { height: 340 });
  content.append(card.card);
  chart = {
    name: card.title,
    chart: charts.mount(
      card.el,
      charts.lines(
        Array.from({ length: maxDays }, (_, i) => String(i)),
        entries.map((p) => ({ name: p.project, values: (p.curve ?? []).slice(0, maxDays).map((c) => c.value), color: projectColor(p.project) })),
        { format: (v) => fmtInt(v) },
      ),
      card.height,
    ),
  };
  const head = [t('common.project'), t('growth.day0'), t('growth.current'), ...(entries[0]?.milestones ?? []).map((m) => fmtInt(m.n))];
  const body = entries.map((p) => [p.project, fmtDay(p.day0), fmtInt(p.current), ...(p.milestones ?? []).map((m) => (m.days === null ? t('common.none') : `${fmtInt(m.days)} · ${fmtDay(m.reached_on)}`))]);
  content.append(h('div', { class: 'card' }, table(head, body, { numeric: [2, 3, 4, 5, 6, 7, 8, 9] })));
  content.append(evidence(reports));
}

function growthCsv(reports) {
  const rows = [];
  for (const r of reports) for (const p of r.json.projects ?? []) for (const c of p.curve ?? []) rows.push([p.project ?? r.project, c.day, c.days_since_d0, c.value, c.incomplete]);
  return csvText(['project', 'day', 'days_since_day0', 'value', 'incomplete'], rows);
}

// Funnels -------------------------------------------------------------------------------------------------------

async function renderFunnels(ctx) {
  const { s, content } = ctx;
  let steps = (s.steps ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (steps.length < 2) {
    // A first look: the demo's path when those events exist, else the two most frequent events.
    const v = await vocabulary(s.projects);
    ctx.check();
    const preferred = ['$pageview', '$identify', 'chat_message', 'payment'].filter((e) => v.events.includes(e));
    steps = preferred.length >= 2 ? preferred : v.events.filter((e) => !e.startsWith('$set')).slice(0, 2);
    if (steps.length >= 2) {
      commit({ ...state, steps: steps.join(',') }, { push: false });
      s.steps = state.steps;
    }
  }
  if (steps.length < 2) {
    content.append(viewHead(t('view.funnels')), h('div', { class: 'state' }, t('funnels.need_steps')));
    return;
  }
  const params = {
    ...common(s),
    steps: steps.map((event) => ({ event })),
    conversion_window: { value: Number(s.window) || 14, unit: s.unit },
  };
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'funnels', params)));
  ctx.check();
  showNotes(reports);
  let chart = null;
  content.append(viewHead(t('view.funnels'), { reports, csv: () => funnelsCsv(reports), chartList: () => (chart ? [chart] : []) }));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }
  const series = reports.flatMap((r) => (r.json.series ?? []).map((x) => ({ ...x, project: x.project ?? r.project })));
  content.append(
    h(
      'div',
      { class: 'kpis' },
      series.map((x) => {
        const last = x.steps[x.steps.length - 1];
        return kpi(`${x.project} · ${t('funnels.overall')}`, fmtPct(last.rate_from_first), {
          swatch: projectColor(x.project),
          ci: last.ci95_from_first ? fmtInterval(last.ci95_from_first) : null,
          sub: `${fmtInt(last.count)} / ${fmtInt(x.steps[0].count)} ${t('common.persons')}`,
          testid: `funnel-${x.project}`,
        });
      }),
    ),
  );
  const labels = series[0].steps.map((st) => `${st.step}. ${st.label}`);
  const card = chartCard(t('funnels.chart'), { height: 340 });
  content.append(card.card);
  chart = {
    name: card.title,
    chart: charts.mount(
      card.el,
      charts.bars(labels, series.map((x) => ({ name: x.project, values: x.steps.map((st) => st.rate_from_first), color: projectColor(x.project) })), { pct: true }),
      card.height,
    ),
  };
  const head = [t('common.project'), t('funnels.step'), t('common.count'), t('funnels.from_first'), t('funnels.from_previous'), t('funnels.median_time')];
  const body = series.flatMap((x) =>
    x.steps.map((st) => [
      x.project,
      `${st.step}. ${st.label}`,
      fmtInt(st.count),
      rateCell(st.rate_from_first, st.ci95_from_first),
      rateCell(st.rate_from_previous, st.ci95_from_previous),
      fmtDuration(st.median_time_s),
    ]),
  );
  content.append(h('div', { class: 'card' }, table(head, body, { numeric: [2, 3, 4, 5] })));
  content.append(evidence(reports));
}

function funnelsCsv(reports) {
  const rows = [];
  for (const r of reports) {
    for (const x of r.json.series ?? []) {
      for (const st of x.steps) {
        rows.push([x.project ?? r.project, x.breakdown_value ?? null, st.step, st.label, st.count, st.rate_from_first, st.ci95_from_first?.[0], st.ci95_from_first?.[1], st.rate_from_previous, st.dropped_off, st.median_time_s, st.average_time_s]);
      }
    }
  }
  return csvText(['project', 'breakdown_value', 'step', 'label', 'count', 'rate_from_first', 'ci95_low', 'ci95_high', 'rate_from_previous', 'dropped_off', 'median_time_s', 'average_time_s'], rows);
}

// Economics -----------------------------------------------------------------------------------------------------

function sumCells(cells, field) {
  return cells.filter(Boolean).reduce((n, c) => n + Number(c[field] ?? 0), 0);
}

async function renderEconomics(ctx) {
  const { s, content } = ctx;
  const params = { ...common(s), period: s.period, currency: (s.currency || 'USD').toUpperCase() };
  const reports = await Promise.all(s.projects.map((p) => fetchReport(p, 'economics', params)));
  ctx.check();
  showNotes(reports);
  const chartList = [];
  content.append(viewHead(t('view.economics'), { reports, csv: () => economicsCsv(reports), chartList: () => chartList }));
  if (allEmpty(reports)) {
    content.append(evidence(reports));
    return;
  }
  const currency = reports[0].json.currency ?? params.currency;
  content.append(
    h(
      'div',
      { class: 'kpis' },
      reports.map((r) => {
        const m = economicsTotals(r);
        return kpi(`${r.project} · ${t('economics.gross_profit')}`, fmtMoney(m.profit, currency), {
          swatch: projectColor(r.project),
          testid: `econ-${r.project}`,
          ci: `${t('economics.net_revenue')} ${fmtMoney(m.revenue, currency)} · ${t('economics.ai_cost')} ${fmtMoney(m.cost, currency)}`,
          sub: `${t('economics.margin')}: ${m.text.margin}${m.unpriced ? ` · ${t('overview.unpriced', { n: fmtInt(m.unpriced) })}` : ''}`,
        });
      }),
    ),
  );
  // Cumulative gross profit per acquired user by cohort age (all cohorts pooled), against CAC when it is known.
  const ltv = chartCard(t('economics.ltv_chart'), { height: 320 });
  content.append(ltv.card);
  // Ages up to the oldest one any cohort has reached; the report's later columns are all empty.
  const reached = Math.max(0, ...reports.flatMap((r) => r.json.rows.map((row) => row.cells.filter(Boolean).length)));
  const ages = reports[0].json.columns.slice(0, Math.max(reached, 1)).map((_, j) => colLabel(s.period, j));
  const lines = reports.flatMap((r) =>
    (r.json.all_cohorts ?? []).map((a) => ({
      name: a.project ?? r.project,
      values: ages.map((_, j) => {
        const cell = a.cells?.find((c) => c && c.age === j);
        return cell ? Number(cell.ltv_to_date?.mean ?? cell.gross_profit_per_user?.mean ?? 0) : null;
      }),
      color: projectColor(a.project ?? r.project),
      cac: a.cac === null || a.cac === undefined ? null : Number(a.cac),
    })),
  );
  const ltvOption = charts.lines(ages, lines, { format: (v) => fmtMoney(v, currency) });
  lines.forEach((line, i) => {
    if (line.cac !== null) {
      ltvOption.series[i].markLine = {
        symbol: 'none',
        lineStyle: { type: 'dashed', color: line.color },
        label: { formatter: `${t('economics.cac')} ${fmtMoney(line.cac, currency)}`, color: line.color },
        data: [{ yAxis: line.cac }],
      };
    }
  });
  chartList.push({ name: ltv.title, chart: charts.mount(ltv.el, ltvOption, ltv.height) });

  const rows = reports.flatMap((r) => r.json.rows.map((row) => ({ ...row, project: row.project ?? r.project })));
  const cohort = chartCard(t('economics.cohort_chart'), { height: 320 });
  content.append(cohort.card);
  const categories = rows.map((row) => `${reports.length > 1 ? `${row.project} ` : ''}${fmtPeriod(row.cohort_start, s.period)}`);
  chartList.push({
    name: cohort.title,
    chart: charts.mount(
      cohort.el,
      charts.bars(
        categories,
        [
          { name: t('economics.net_revenue'), values: rows.map((row) => sumCells(row.cells, 'net_revenue')), color: '#0072B2' },
          { name: t('economics.ai_cost'), values: rows.map((row) => sumCells(row.cells, 'inference_cost')), color: '#D55E00' },
          { name: t('economics.gross_profit'), values: rows.map((row) => sumCells(row.cells, 'gross_profit')), color: '#009E73' },
        ],
        { format: (v) => fmtMoney(v, currency), labels: rows.length <= 6 },
      ),
      cohort.height,
    ),
  });
  const head = [t('common.project'), t('economics.cohort'), t('economics.users'), t('economics.net_revenue'), t('economics.ai_cost'), t('economics.gross_profit'), t('economics.margin'), t('economics.ltv'), t('economics.cac'), t('economics.payback')];
  const body = rows.map((row) => {
    const revenue = sumCells(row.cells, 'net_revenue');
    const profit = sumCells(row.cells, 'gross_profit');
    const lastCell = [...row.cells].reverse().find(Boolean);
    return [
      row.project,
      fmtPeriod(row.cohort_start, s.period),
      fmtInt(row.cohort_users),
      fmtMoney(revenue, currency),
      fmtMoney(sumCells(row.cells, 'inference_cost'), currency),
      h('td', { class: `num ${profit < 0 ? 'neg' : ''}` }, fmtMoney(profit, currency)),
      revenue > 0 ? `${sumCells(row.cells, 'unpriced_ai_events') ? '≤ ' : ''}${fmtPct(profit / revenue)}` : t('common.none'),
      fmtMoney(lastCell?.ltv_to_date?.mean ?? null, currency),
      row.cac === null ? t('common.none') : fmtMoney(row.cac, currency),
      row.payback_age === null ? t('common.none') : colLabel(s.period, row.payback_age),
    ];
  });
  content.append(h('div', { class: 'card' }, table(head, body, { numeric: [2, 3, 4, 5, 6, 7, 8, 9] })));
  content.append(
    evidence(reports, {
      extra: [
        [
          t('evidence.cohorts'),
          reports.map((r) =>
            h('div', {}, `${r.project}: ${rows.filter((row) => row.project === r.project).map((row) => `${fmtPeriod(row.cohort_start, s.period)} ${fmtInt(row.cohort_users)}`).join(' · ')}`),
          ),
        ],
      ],
    }),
  );
}

function economicsCsv(reports) {
  const rows = [];
  for (const r of reports) {
    for (const row of r.json.rows) {
      for (const c of row.cells) {
        if (!c) continue;
        rows.push([row.project ?? r.project, row.cohort_start, row.cohort_users, c.age, c.active_users, c.paying_users, c.net_revenue, c.inference_cost, c.gross_profit, c.gross_margin, c.ltv_to_date?.mean, c.unpriced_ai_events, c.incomplete]);
      }
    }
  }
  return csvText(['project', 'cohort_start', 'cohort_users', 'age', 'active_users', 'paying_users', 'net_revenue', 'inference_cost', 'gross_profit', 'gross_margin', 'ltv_to_date', 'unpriced_ai_events', 'incomplete'], rows);
}

// Quarantine ----------------------------------------------------------------------------------------------------

async function renderQuarantine(ctx) {
  const { s, content } = ctx;
  const query = new URLSearchParams({ limit: String(Number(s.limit) || 100) });
  if (s.reason) query.set('reason', s.reason);
  const results = await Promise.all(
    s.projects.map((p) =>
      request(`/api/v1/projects/${encodeURIComponent(p)}/quarantine?${query}`, { key: keyFor(p) }).then(({ json, text }) => ({ project: p, kind: 'quarantine', json, text })),
    ),
  );
  ctx.check();
  let chart = null;
  content.append(viewHead(t('view.quarantine'), { reports: results, csv: () => quarantineCsv(results), chartList: () => (chart ? [chart] : []) }));
  content.append(
    h(
      'div',
      { class: 'kpis' },
      results.map((r) =>
        kpi(`${r.project} · ${t('quarantine.total')}`, fmtInt(Object.values(r.json.by_reason ?? {}).reduce((a, b) => a + b, 0)), {
          swatch: projectColor(r.project),
          testid: `quarantine-${r.project}`,
        }),
      ),
    ),
  );
  const reasons = [...new Set(results.flatMap((r) => Object.keys(r.json.by_reason ?? {})))].sort();
  if (!reasons.length) {
    content.append(h('div', { class: 'state', 'data-testid': 'quarantine-empty' }, t('quarantine.empty')));
    return;
  }
  const card = chartCard(t('quarantine.by_reason'), { height: Math.max(200, reasons.length * 36 + 80) });
  content.append(card.card);
  chart = {
    name: card.title,
    chart: charts.mount(
      card.el,
      charts.bars(reasons, results.map((r) => ({ name: r.project, values: reasons.map((x) => r.json.by_reason?.[x] ?? 0), color: projectColor(r.project) })), {
        horizontal: true,
        integer: true,
        stack: 'q',
        format: (v) => fmtInt(v),
      }),
      card.height,
    ),
  };
  const head = [t('common.project'), t('quarantine.received'), t('quarantine.reason'), t('quarantine.detail'), t('quarantine.source'), t('quarantine.raw')];
  const body = results.flatMap((r) =>
    (r.json.entries ?? []).map((e) => [r.project, fmtInstant(e.received_at), e.reason, e.detail, e.source, h('td', {}, h('span', { class: 'mono' }, String(e.raw ?? '').slice(0, 160)))]),
  );
  content.append(h('div', { class: 'card' }, table(head, body)));
}

function quarantineCsv(results) {
  const rows = results.flatMap((r) => (r.json.entries ?? []).map((e) => [r.project, e.received_at, e.reason, e.detail, e.source, e.raw, e.raw_encoding]));
  return csvText(['project', 'received_at', 'reason', 'detail', 'source', 'raw', 'raw_encoding'], rows);
}

// ---------------------------------------------------------------------------------------------------------------
// States that replace the view: no key, refused key, unreachable server, refused report, no data yet.

function howTo() {
  return h('p', {}, t('keys.howto'), ' ', h('code', {}, 'liucun keys create --project P --kind read'));
}

function keysForm() {
  const area = h('textarea', { rows: 2, placeholder: t('keys.placeholder'), 'data-testid': 'keys-input', name: 'keys' });
  const form = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const keys = parseKeys(area.value);
        if (!keys.length) return;
        saveKeys([...storedKeys(), ...keys]);
        await start();
      },
    },
    area,
    h('p', {}, h('button', { type: 'submit', 'data-testid': 'keys-submit' }, t('keys.add'))),
  );
  const list = h(
    'ul',
    { class: 'keylist' },
    ...session.keys.map((k) =>
      h(
        'li',
        {},
        h('code', {}, `${k.key.slice(0, 8)}…`),
        k.ok
          ? h('span', {}, k.kind === 'admin' ? t('keys.admin') : t('keys.reads', { projects: k.projects.join(', ') || t('common.none') }))
          : h('span', { class: 'bad' }, `${t('keys.refused')}: ${k.error?.message ?? ''}`),
        h(
          'button',
          {
            type: 'button',
            class: 'quiet',
            onclick: async () => {
              saveKeys(storedKeys().filter((x) => x !== k.key));
              await start();
            },
          },
          t('keys.remove'),
        ),
      ),
    ),
  );
  const forget = h(
    'button',
    {
      type: 'button',
      class: 'quiet',
      onclick: async () => {
        saveKeys([]);
        await start();
      },
    },
    t('keys.forget'),
  );
  return h('div', {}, h('p', { class: 'sub', text: t('keys.intro') }), howTo(), session.keys.length ? [list, forget] : null, form);
}

function showState(name, title, body, { bad = false } = {}) {
  document.body.dataset.state = name;
  $('controls').replaceChildren();
  $('notes').replaceChildren();
  $('evidence').replaceChildren();
  $('view-head').replaceChildren();
  $('content').replaceChildren(h('div', { class: `state${bad ? ' bad' : ''}`, 'data-testid': `state-${name}` }, h('h2', { text: title }), body));
}

function errorBody(error) {
  if (error instanceof ApiError) {
    return h(
      'div',
      {},
      h('p', { 'data-testid': 'error-message' }, h('b', {}, `${error.status} ${error.code}`), ': ', error.message),
      error.requestId ? h('p', { class: 'request-id' }, `${t('state.request_id')}: ${error.requestId}`) : null,
    );
  }
  return h('p', { 'data-testid': 'error-message' }, String(error?.message ?? error));
}

function noDataBody(projects) {
  const origin = location.origin;
  return h(
    'div',
    {},
    h('p', {}, t('state.no_data.body', { projects: projects.join(', ') })),
    h('ul', {}, h('li', {}, t('state.no_data.host', { origin })), h('li', {}, t('state.no_data.token'), ' ', h('code', {}, `liucun keys create --project ${projects[0] ?? 'P'} --kind write`))),
    h('pre', {}, `posthog.init('lcw_…', { api_host: '${origin}' })`),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Frame: tabs, language, keys panel, and the render loop.

let renderToken = 0;

function renderFrame() {
  document.documentElement.lang = lang();
  document.title = `liucun · ${t(`view.${state.view ?? 'overview'}`)}`;
  $('brand').querySelector('.name').textContent = 'liucun';
  const tabs = Object.keys(VIEWS).map((name) =>
    h(
      'a',
      {
        href: `?view=${name}`,
        role: 'tab',
        'aria-selected': String(name === state.view),
        dataset: { view: name },
        onclick: (e) => {
          e.preventDefault();
          const kept = Object.fromEntries(COMMON_KEYS.filter((k) => state[k] !== undefined).map((k) => [k, state[k]]));
          commit({ ...kept, view: name });
          render();
        },
      },
      t(`view.${name}`),
    ),
  );
  $('tabs').replaceChildren(...tabs);
  const select = $('lang');
  select.replaceChildren(...LANGS.map((l) => h('option', { value: l.code, selected: l.code === lang() ? true : undefined }, l.name)));
  $('lang-label').textContent = t('lang.label');
  $('keys-button').textContent = t('keys.button');
}

async function render() {
  const token = ++renderToken;
  charts.disposeAll();
  document.body.dataset.state = 'loading';
  renderFrame();
  const panel = $('keys-panel');
  if (!panel.hidden) panel.replaceChildren(h('h2', { text: t('keys.title') }), keysForm());
  const content = $('content');
  $('notes').replaceChildren();
  $('evidence').replaceChildren();
  $('view-head').replaceChildren();

  if (!session.keys.length) {
    showState('no-key', t('state.no_key.title'), keysForm());
    return;
  }
  const unreachable = session.keys.find((k) => !k.ok && k.error instanceof Unreachable);
  if (unreachable) {
    showState(
      'unreachable',
      t('state.unreachable.title'),
      h('div', {}, h('p', {}, t('state.unreachable.body', { origin: location.origin })), h('button', { type: 'button', onclick: () => start() }, t('state.retry'))),
      { bad: true },
    );
    return;
  }
  const refused = session.keys.filter((k) => !k.ok);
  if (refused.length && !session.projects.length) {
    const k = refused[0];
    showState(
      'bad-key',
      t('state.bad_key.title'),
      h(
        'div',
        {},
        h('p', { 'data-testid': 'error-message' }, t('state.bad_key.body', { status: k.error.status ?? '', prefix: k.key.slice(0, 8), message: k.error.message })),
        h('p', {}, t('state.bad_key.fix')),
        keysForm(),
      ),
      { bad: true },
    );
    return;
  }
  if (!session.projects.length) {
    showState('no-projects', t('state.no_projects.title'), h('div', {}, h('p', {}, t('state.no_projects.body')), keysForm()));
    return;
  }

  const view = VIEWS[state.view];
  let s = withDefaults(state);
  commit(s, { push: false });
  renderControls(view);
  content.replaceChildren(
    refused.length
      ? h('div', { class: 'note', 'data-testid': 'bad-key-note' }, t('state.bad_key.body', { status: refused[0].error.status ?? '', prefix: refused[0].key.slice(0, 8), message: refused[0].error.message }))
      : '',
    h('div', { class: 'loading', text: t('state.loading') }),
  );
  const ctx = {
    s,
    content,
    check: () => {
      if (token !== renderToken) throw new Superseded();
    },
  };
  try {
    const resolved = await resolveDates(s, view);
    ctx.check();
    if (resolved.empty) {
      showState('no-data', t('state.no_data.title'), noDataBody(s.projects));
      return;
    }
    if (resolved.s !== s) {
      s = resolved.s;
      commit(s, { push: false });
      ctx.s = s;
      renderControls(view);
    }
    const banner = content.firstChild;
    content.replaceChildren();
    if (banner && banner.dataset?.testid === 'bad-key-note') content.append(banner);
    await view.render(ctx);
    ctx.check();
    const ev = content.querySelector('[data-testid="evidence"]');
    if (ev) $('evidence').replaceChildren(ev);
    const head = content.querySelector('.view-head');
    if (head) $('view-head').replaceChildren(head);
    document.body.dataset.state = 'ready';
  } catch (error) {
    if (error instanceof Superseded) return;
    if (token !== renderToken) return;
    if (error instanceof Unreachable) {
      showState('unreachable', t('state.unreachable.title'), h('div', {}, h('p', {}, t('state.unreachable.body', { origin: location.origin })), h('button', { type: 'button', onclick: () => start() }, t('state.retry'))), { bad: true });
    } else if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      showState('bad-key', t('state.bad_key.title'), h('div', {}, errorBody(error), keysForm()), { bad: true });
    } else if (error instanceof ApiError) {
      showState('refused', t('state.refused.title'), errorBody(error), { bad: true });
      renderControls(view);
    } else {
      console.error(error);
      showState('error', t('state.error.title'), errorBody(error), { bad: true });
      renderControls(view);
    }
  }
}

class Superseded extends Error {}

async function start() {
  takeFragmentKeys();
  reportCache.clear();
  extents.clear();
  vocabularies.clear();
  document.body.dataset.state = 'loading';
  await loadSession();
  state = readState();
  await render();
}

function boot() {
  setLang(lang());
  $('lang').addEventListener('change', (e) => {
    setLang(e.target.value);
    render();
  });
  $('keys-button').addEventListener('click', () => {
    const panel = $('keys-panel');
    panel.hidden = !panel.hidden;
    if (!panel.hidden) panel.replaceChildren(h('h2', { text: t('keys.title') }), keysForm());
  });
  // A click anywhere else closes an open download menu.
  document.addEventListener('click', (e) => {
    for (const menu of document.querySelectorAll('details.download[open]')) if (!menu.contains(e.target)) menu.open = false;
  });
  addEventListener('popstate', () => {
    state = readState();
    render();
  });
  addEventListener('hashchange', () => {
    if (location.hash.includes('keys=')) start();
  });
  start();
}

boot();
