// The dashboard's words in English and Simplified Chinese, and the number and date formats of each language.
// Every string the page shows comes from here, so a missing translation falls back to English, never to a key.

export const LANGS = [
  { code: 'en', name: 'English' },
  { code: 'zh-CN', name: '简体中文' },
];

const STORAGE_KEY = 'liucun.lang';

const MESSAGES = {
  en: {
    'app.title': 'liucun',
    'app.tagline': 'retention and unit economics',
    'view.overview': 'Overview',
    'view.retention': 'Retention',
    'view.trends': 'Trends',
    'view.stickiness': 'Stickiness',
    'view.lifecycle': 'Lifecycle',
    'view.growth': 'Growth',
    'view.funnels': 'Funnels',
    'view.economics': 'Economics',
    'view.quarantine': 'Quarantine',
    'lang.label': 'Language',
    'keys.button': 'Keys',
    'keys.title': 'Read keys',
    'keys.intro': 'Paste one or more read keys (or an admin key), separated by commas or spaces. They stay in this browser only.',
    'keys.howto': 'Make a read key on the server with:',
    'keys.add': 'Use these keys',
    'keys.placeholder': 'lcr_…',
    'keys.forget': 'Forget all keys',
    'keys.remove': 'Remove',
    'keys.reads': 'reads {projects}',
    'keys.admin': 'admin: every project',
    'keys.none': 'No key yet.',
    'keys.refused': 'refused',
    'state.loading': 'Loading…',
    'state.no_key.title': 'Add a read key to see your reports',
    'state.bad_key.title': 'A key was refused',
    'state.bad_key.body': 'The server answered {status} for the key {prefix}…: {message}',
    'state.bad_key.fix': 'Remove it below, or make a new one with the command above.',
    'state.unreachable.title': 'The liucun server cannot be reached',
    'state.unreachable.body': 'No answer from {origin}. Is `liucun serve` running? The page retries when you press the button.',
    'state.retry': 'Try again',
    'state.refused.title': 'The server refused this report',
    'state.error.title': 'Something went wrong',
    'state.no_projects.title': 'These keys read no project',
    'state.no_projects.body': 'Add a read key of a project, or create a project first: liucun projects create NAME',
    'state.no_data.title': 'No events yet',
    'state.no_data.body': 'This server has stored no events for {projects}. Point a PostHog SDK at it:',
    'state.no_data.host': 'host (api_host): {origin}',
    'state.no_data.token': 'project API key: a write token, made with',
    'state.pick_project': 'Pick at least one project.',
    'state.request_id': 'request id',
    'ctl.projects': 'Projects',
    'ctl.period': 'Period',
    'ctl.interval': 'Interval',
    'ctl.intervals': 'Columns',
    'ctl.from': 'From',
    'ctl.to': 'To',
    'ctl.timezone': 'Time zone',
    'ctl.timezone.default': 'project setting',
    'ctl.type': 'Type',
    'ctl.target': 'Start event',
    'ctl.returning': 'Returning event',
    'ctl.event': 'Event',
    'ctl.any_event': 'any activity event',
    'ctl.breakdown': 'Breakdown property',
    'ctl.breakdown.none': 'none',
    'ctl.cumulative': 'Cumulative',
    'ctl.math': 'Measure',
    'ctl.math_property': 'Numeric property',
    'ctl.metric': 'Metric',
    'ctl.milestones': 'Milestones',
    'ctl.steps': 'Steps (comma separated)',
    'ctl.window': 'Conversion window',
    'ctl.window_unit': 'Unit',
    'ctl.currency': 'Currency',
    'ctl.reason': 'Reason',
    'ctl.reason.all': 'all reasons',
    'ctl.limit': 'Entries',
    'ctl.apply': 'Apply',
    'ctl.dates_hint': 'Dates left empty follow the data: the window ends on the last day with events.',
    'ctl.breakdown.hint': 'An event property; person:KEY for a person property',
    'ctl.filters': 'Filters',
    'ctl.target_filters': 'Start event filters',
    'ctl.returning_filters': 'Returning event filters',
    'filter.add': '+ Add filter',
    'filter.remove': 'Remove this filter',
    'filter.type': 'Property of',
    'filter.type.event': 'event',
    'filter.type.person': 'person',
    'filter.key': 'property',
    'filter.operator': 'Operator',
    'filter.value': 'value',
    'filter.value_hint': 'Read as JSON when it parses (3, true, ["a","b"]), else as text',
    'op.eq': 'equals', 'op.neq': 'does not equal', 'op.contains': 'contains', 'op.not_contains': 'does not contain',
    'op.gt': '>', 'op.gte': '≥', 'op.lt': '<', 'op.lte': '≤',
    'op.is_set': 'is set', 'op.is_not_set': 'is not set', 'op.regex': 'matches regex',
    'col.hour': 'Hour {n}', 'col.day': 'Day {n}', 'col.week': 'Week {n}', 'col.month': 'Month {n}',
    'period.hour': 'hour', 'period.day': 'day', 'period.week': 'week', 'period.month': 'month',
    'unit.second': 'seconds', 'unit.minute': 'minutes', 'unit.hour': 'hours', 'unit.day': 'days', 'unit.week': 'weeks', 'unit.month': 'months',
    'type.recurring': 'recurring', 'type.first_time': 'first time', 'type.first_ever': 'first ever',
    'math.total': 'events', 'math.unique_persons': 'unique persons', 'math.dau': 'DAU', 'math.wau': 'WAU', 'math.mau': 'MAU',
    'math.dau_mau': 'DAU/MAU', 'math.sum': 'sum', 'math.avg': 'average', 'math.min': 'minimum', 'math.max': 'maximum',
    'math.median': 'median', 'math.p90': 'p90', 'math.p95': 'p95', 'math.p99': 'p99',
    'metric.cumulative_persons': 'persons so far', 'metric.mau': 'MAU',
    'download.button': 'Download',
    'download.json': 'Report JSON · {project}',
    'download.csv': 'Table (CSV)',
    'download.svg': 'Chart (SVG) · {chart}',
    'download.png': 'Chart (PNG) · {chart}',
    'download.verify': 'Check a JSON file with: liucun verify FILE',
    'evidence.title': 'Evidence',
    'evidence.definition': 'Definition',
    'evidence.as_of': 'As of',
    'evidence.data': 'Stored events',
    'evidence.data_range': '{project}: {first} → {last}',
    'evidence.no_events': '{project}: no events',
    'evidence.fingerprint': 'Data fingerprint',
    'evidence.in_scope': 'Events read',
    'evidence.cohorts': 'Cohort sizes',
    'evidence.cohort_line': '{project}: {persons} persons in {cohorts} cohorts of {min} to {max}; {small} under 20 persons',
    'evidence.engine': 'Engine',
    'evidence.copy': 'copy',
    'note.show_data': 'Show where the data is: {from} → {to}',
    'note.title': 'Read this first',
    'common.project': 'Project',
    'common.persons': 'persons',
    'common.none': '—',
    'common.other': 'Other',
    'common.incomplete': 'incomplete',
    'common.total': 'Total',
    'common.average': 'Average',
    'common.last': 'Last',
    'common.value': 'Value',
    'common.period': 'Period',
    'common.count': 'Count',
    'common.share': 'Share',
    'common.ci': '95% interval {lo}–{hi}',
    'overview.retention': 'Retention of new persons',
    'overview.retention.sub': 'first-time, daily cohorts; mean with 95% interval',
    'overview.day': 'Day {n}',
    'overview.dau_mau': 'DAU/MAU',
    'overview.dau_mau.sub': 'average over the window',
    'overview.revenue': 'Net revenue',
    'overview.cost': 'AI cost',
    'overview.margin': 'Gross margin',
    'overview.no_revenue': 'no revenue events',
    'overview.window': 'Window {from} → {to}',
    'overview.curves': 'Mean retention curve (first-time, daily)',
    'overview.dau_mau.chart': 'DAU/MAU per day',
    'overview.econ.chart': 'Net revenue vs AI cost',
    'overview.unpriced': '{n} AI events have no price',
    'overview.unconverted': '+ {amount} not converted (no exchange rate)',
    'retention.curves': 'Mean retention by {period} since first activity',
    'retention.heatmap': 'Cohorts: {project}',
    'retention.mean': 'Mean',
    'retention.persons': '{n} persons',
    'retention.legend.incomplete': 'hatched: period still running (incomplete)',
    'retention.legend.partial': 'dotted outline: period runs past the last stored event (partial)',
    'retention.legend.small': 'faded: cohort under 20 persons',
    'retention.legend.scale': 'colour: share of the cohort that came back',
    'retention.cohort': 'Cohort',
    'retention.size': 'Size',
    'retention.tooltip.rate': '{rate} came back ({count} of {size})',
    'retention.tooltip.ci': '95% interval {lo}–{hi}',
    'retention.mean_rows': 'mean over {rows} cohorts, {persons} persons',
    'retention.band': '95% interval',
    'trends.chart': 'Trend',
    'stickiness.chart': 'Share of persons by active {period}s',
    'stickiness.persons': 'Persons active at least once',
    'stickiness.one': 'Active in one {period} only',
    'lifecycle.chart': 'Lifecycle: {project}',
    'lifecycle.new': 'new', 'lifecycle.returning': 'returning', 'lifecycle.resurrecting': 'resurrecting', 'lifecycle.dormant': 'dormant',
    'lifecycle.quick_ratio': 'Quick ratio',
    'growth.chart': 'Growth since day 0',
    'growth.days_since': 'days since day 0',
    'growth.current': 'Now',
    'growth.reached': '{n}: day {days}',
    'growth.not_reached': '{n}: not yet',
    'growth.day0': 'Day 0',
    'funnels.chart': 'Conversion by step',
    'funnels.step': 'Step',
    'funnels.from_first': 'from first step',
    'funnels.from_previous': 'from previous step',
    'funnels.median_time': 'median time',
    'funnels.overall': 'Converted overall',
    'funnels.need_steps': 'A funnel needs at least two steps.',
    'economics.ltv_chart': 'Gross profit per user to date, by cohort age',
    'economics.cohort_chart': 'Per cohort: net revenue, AI cost and gross profit',
    'economics.cohort': 'Cohort',
    'economics.users': 'Users',
    'economics.net_revenue': 'Net revenue',
    'economics.ai_cost': 'AI cost',
    'economics.gross_profit': 'Gross profit',
    'economics.margin': 'Margin',
    'economics.ltv': 'Gross profit per user',
    'economics.cac': 'CAC',
    'economics.payback': 'Payback',
    'economics.age': 'age',
    'economics.pooled': 'all cohorts',
    'quarantine.total': 'Quarantined entries',
    'quarantine.by_reason': 'Entries by reason',
    'quarantine.empty': 'Nothing is quarantined: every event that arrived was valid.',
    'quarantine.reason': 'Reason',
    'quarantine.detail': 'Detail',
    'quarantine.received': 'Received',
    'quarantine.source': 'Source',
    'quarantine.raw': 'Raw',
  },
  'zh-CN': {
    'app.title': '留存',
    'app.tagline': '留存与单位经济',
    'view.overview': '概览',
    'view.retention': '留存',
    'view.trends': '趋势',
    'view.stickiness': '粘性',
    'view.lifecycle': '生命周期',
    'view.growth': '增长',
    'view.funnels': '漏斗',
    'view.economics': '经济',
    'view.quarantine': '隔离区',
    'lang.label': '语言',
    'keys.button': '密钥',
    'keys.title': '读取密钥',
    'keys.intro': '粘贴一个或多个读取密钥（或管理员密钥），用逗号或空格分隔。密钥只保存在本浏览器中。',
    'keys.howto': '在服务器上创建读取密钥：',
    'keys.add': '使用这些密钥',
    'keys.placeholder': 'lcr_…',
    'keys.forget': '清除所有密钥',
    'keys.remove': '移除',
    'keys.reads': '可读取 {projects}',
    'keys.admin': '管理员：全部项目',
    'keys.none': '还没有密钥。',
    'keys.refused': '被拒绝',
    'state.loading': '加载中…',
    'state.no_key.title': '添加读取密钥以查看报表',
    'state.bad_key.title': '有密钥被拒绝',
    'state.bad_key.body': '服务器对密钥 {prefix}… 的回应是 {status}：{message}',
    'state.bad_key.fix': '请在下方移除它，或用上面的命令创建新密钥。',
    'state.unreachable.title': '无法连接 liucun 服务器',
    'state.unreachable.body': '{origin} 没有回应。`liucun serve` 是否在运行？点击按钮重试。',
    'state.retry': '重试',
    'state.refused.title': '服务器拒绝了这个报表',
    'state.error.title': '出错了',
    'state.no_projects.title': '这些密钥不能读取任何项目',
    'state.no_projects.body': '请添加某个项目的读取密钥，或先创建项目：liucun projects create NAME',
    'state.no_data.title': '还没有事件',
    'state.no_data.body': '服务器尚未存储 {projects} 的任何事件。将 PostHog SDK 指向本服务器：',
    'state.no_data.host': '主机（api_host）：{origin}',
    'state.no_data.token': '项目 API 密钥：写入令牌，创建命令',
    'state.pick_project': '请至少选择一个项目。',
    'state.request_id': '请求编号',
    'ctl.projects': '项目',
    'ctl.period': '周期',
    'ctl.interval': '间隔',
    'ctl.intervals': '列数',
    'ctl.from': '开始',
    'ctl.to': '结束',
    'ctl.timezone': '时区',
    'ctl.timezone.default': '项目设置',
    'ctl.type': '类型',
    'ctl.target': '起始事件',
    'ctl.returning': '回访事件',
    'ctl.event': '事件',
    'ctl.any_event': '任意活跃事件',
    'ctl.breakdown': '细分属性',
    'ctl.breakdown.none': '无',
    'ctl.cumulative': '累计',
    'ctl.math': '度量',
    'ctl.math_property': '数值属性',
    'ctl.metric': '指标',
    'ctl.milestones': '里程碑',
    'ctl.steps': '步骤（逗号分隔）',
    'ctl.window': '转化窗口',
    'ctl.window_unit': '单位',
    'ctl.currency': '货币',
    'ctl.reason': '原因',
    'ctl.reason.all': '全部原因',
    'ctl.limit': '条数',
    'ctl.apply': '应用',
    'ctl.dates_hint': '日期留空时跟随数据：窗口结束于最后一个有事件的日期。',
    'ctl.breakdown.hint': '事件属性；用户属性写作 person:KEY',
    'ctl.filters': '筛选',
    'ctl.target_filters': '起始事件筛选',
    'ctl.returning_filters': '回访事件筛选',
    'filter.add': '+ 添加筛选',
    'filter.remove': '删除此筛选',
    'filter.type': '属性来源',
    'filter.type.event': '事件',
    'filter.type.person': '用户',
    'filter.key': '属性',
    'filter.operator': '运算符',
    'filter.value': '值',
    'filter.value_hint': '能按 JSON 解析时按 JSON 读取（3、true、["a","b"]），否则按文本读取',
    'op.eq': '等于', 'op.neq': '不等于', 'op.contains': '包含', 'op.not_contains': '不包含',
    'op.gt': '>', 'op.gte': '≥', 'op.lt': '<', 'op.lte': '≤',
    'op.is_set': '已设置', 'op.is_not_set': '未设置', 'op.regex': '匹配正则',
    'col.hour': '第 {n} 小时', 'col.day': '第 {n} 天', 'col.week': '第 {n} 周', 'col.month': '第 {n} 个月',
    'period.hour': '小时', 'period.day': '天', 'period.week': '周', 'period.month': '月',
    'unit.second': '秒', 'unit.minute': '分钟', 'unit.hour': '小时', 'unit.day': '天', 'unit.week': '周', 'unit.month': '月',
    'type.recurring': '循环留存', 'type.first_time': '首次', 'type.first_ever': '史上首次',
    'math.total': '事件数', 'math.unique_persons': '独立用户', 'math.dau': '日活', 'math.wau': '周活', 'math.mau': '月活',
    'math.dau_mau': '日活/月活', 'math.sum': '总和', 'math.avg': '平均', 'math.min': '最小', 'math.max': '最大',
    'math.median': '中位数', 'math.p90': 'p90', 'math.p95': 'p95', 'math.p99': 'p99',
    'metric.cumulative_persons': '累计用户', 'metric.mau': '月活',
    'download.button': '下载',
    'download.json': '报表 JSON · {project}',
    'download.csv': '表格（CSV）',
    'download.svg': '图表（SVG）· {chart}',
    'download.png': '图表（PNG）· {chart}',
    'download.verify': '校验 JSON 文件：liucun verify FILE',
    'evidence.title': '依据',
    'evidence.definition': '定义',
    'evidence.as_of': '截至',
    'evidence.data': '已存储事件',
    'evidence.data_range': '{project}：{first} → {last}',
    'evidence.no_events': '{project}：没有事件',
    'evidence.fingerprint': '数据指纹',
    'evidence.in_scope': '读取事件数',
    'evidence.cohorts': '同期群规模',
    'evidence.cohort_line': '{project}：{cohorts} 个同期群共 {persons} 人，每群 {min}–{max} 人；{small} 个不足 20 人',
    'evidence.engine': '引擎',
    'evidence.copy': '复制',
    'note.show_data': '查看有数据的区间：{from} → {to}',
    'note.title': '请先阅读',
    'common.project': '项目',
    'common.persons': '人',
    'common.none': '—',
    'common.other': '其他',
    'common.incomplete': '未完成',
    'common.total': '合计',
    'common.average': '平均',
    'common.last': '最新',
    'common.value': '数值',
    'common.period': '周期',
    'common.count': '人数',
    'common.share': '占比',
    'common.ci': '95% 区间 {lo}–{hi}',
    'overview.retention': '新用户留存',
    'overview.retention.sub': '首次留存，按天分组；均值及 95% 区间',
    'overview.day': '第 {n} 天',
    'overview.dau_mau': '日活/月活',
    'overview.dau_mau.sub': '窗口内平均',
    'overview.revenue': '净收入',
    'overview.cost': 'AI 成本',
    'overview.margin': '毛利率',
    'overview.no_revenue': '没有收入事件',
    'overview.window': '窗口 {from} → {to}',
    'overview.curves': '平均留存曲线（首次，按天）',
    'overview.dau_mau.chart': '每日 日活/月活',
    'overview.econ.chart': '净收入与 AI 成本',
    'overview.unpriced': '{n} 个 AI 事件没有价格',
    'overview.unconverted': '另有 {amount} 未换算（缺少汇率）',
    'retention.curves': '首次活跃后每{period}的平均留存',
    'retention.heatmap': '同期群：{project}',
    'retention.mean': '均值',
    'retention.persons': '{n} 人',
    'retention.legend.incomplete': '斜线：周期尚未结束（未完成）',
    'retention.legend.partial': '虚线框：周期超出最后一条已存事件（部分）',
    'retention.legend.small': '浅色：同期群不足 20 人',
    'retention.legend.scale': '颜色：回访用户占同期群的比例',
    'retention.cohort': '同期群',
    'retention.size': '人数',
    'retention.tooltip.rate': '{rate} 回访（{size} 人中 {count} 人）',
    'retention.tooltip.ci': '95% 区间 {lo}–{hi}',
    'retention.mean_rows': '{rows} 个同期群、{persons} 人的均值',
    'retention.band': '95% 区间',
    'trends.chart': '趋势',
    'stickiness.chart': '按活跃{period}数划分的用户占比',
    'stickiness.persons': '至少活跃一次的用户',
    'stickiness.one': '只活跃一个{period}',
    'lifecycle.chart': '生命周期：{project}',
    'lifecycle.new': '新增', 'lifecycle.returning': '回访', 'lifecycle.resurrecting': '复活', 'lifecycle.dormant': '沉睡',
    'lifecycle.quick_ratio': '快速比率',
    'growth.chart': '自第 0 天起的增长',
    'growth.days_since': '距第 0 天的天数',
    'growth.current': '当前',
    'growth.reached': '{n}：第 {days} 天',
    'growth.not_reached': '{n}：尚未达到',
    'growth.day0': '第 0 天',
    'funnels.chart': '各步骤转化',
    'funnels.step': '步骤',
    'funnels.from_first': '相对第一步',
    'funnels.from_previous': '相对上一步',
    'funnels.median_time': '中位耗时',
    'funnels.overall': '整体转化',
    'funnels.need_steps': '漏斗至少需要两个步骤。',
    'economics.ltv_chart': '同期群进入后各期的人均累计毛利',
    'economics.cohort_chart': '各同期群：净收入、AI 成本与毛利',
    'economics.cohort': '同期群',
    'economics.users': '用户',
    'economics.net_revenue': '净收入',
    'economics.ai_cost': 'AI 成本',
    'economics.gross_profit': '毛利',
    'economics.margin': '毛利率',
    'economics.ltv': '人均毛利',
    'economics.cac': '获客成本',
    'economics.payback': '回本',
    'economics.age': '期数',
    'economics.pooled': '全部同期群',
    'quarantine.total': '隔离条目',
    'quarantine.by_reason': '按原因统计',
    'quarantine.empty': '隔离区为空：收到的事件全部有效。',
    'quarantine.reason': '原因',
    'quarantine.detail': '详情',
    'quarantine.received': '接收时间',
    'quarantine.source': '来源',
    'quarantine.raw': '原始内容',
  },
};

let current = initialLang();

function initialLang() {
  const stored = safeStorageGet(STORAGE_KEY);
  if (stored && MESSAGES[stored]) return stored;
  const nav = (globalThis.navigator && navigator.language) || 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

function safeStorageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function lang() {
  return current;
}

export function setLang(code) {
  if (!MESSAGES[code]) return;
  current = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // A browser that refuses storage still switches for this page.
  }
  document.documentElement.lang = code;
}

/// The text of `key` in the current language with `{name}` placeholders filled from `vars`.
export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/// ECharts' built-in locale name for the current language.
export function echartsLocale() {
  return current === 'zh-CN' ? 'ZH' : 'EN';
}

const formatters = new Map();
function nf(options) {
  const id = current + JSON.stringify(options);
  if (!formatters.has(id)) formatters.set(id, new Intl.NumberFormat(current, options));
  return formatters.get(id);
}

/// A ratio (0.234) as a percentage with one decimal ("23.4%"), or a dash when absent.
export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return t('common.none');
  return nf({ style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(ratio);
}

/// The two bounds of a 95% interval as "20.1–27.0%".
export function fmtInterval(ci) {
  if (!ci) return t('common.none');
  return t('common.ci', { lo: fmtPct(ci[0]), hi: fmtPct(ci[1]) });
}

export function fmtInt(n) {
  if (n === null || n === undefined) return t('common.none');
  return nf({ maximumFractionDigits: 0 }).format(n);
}

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return t('common.none');
  return nf({ maximumFractionDigits: digits }).format(x);
}

/// Money arrives as a decimal string in the report currency.
export function fmtMoney(amount, currency) {
  if (amount === null || amount === undefined) return t('common.none');
  const value = typeof amount === 'string' ? Number(amount) : amount;
  try {
    return nf({ style: 'currency', currency, maximumFractionDigits: 2 }).format(value);
  } catch {
    return `${fmtNum(value, 2)} ${currency}`;
  }
}

/// A period start such as "2025-01-06T00:00:00+08:00" shown as its local calendar date (the offset is the report's
/// time zone, so the written date is the one the report means); the year only when `withYear` (months always).
export function fmtPeriod(iso, period, withYear = false) {
  if (!iso) return t('common.none');
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d, Number(iso.slice(11, 13)) || 0));
  const opts = { timeZone: 'UTC' };
  if (period === 'month') Object.assign(opts, { year: 'numeric', month: 'short' });
  else if (period === 'hour') Object.assign(opts, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  else Object.assign(opts, { month: 'short', day: 'numeric', ...(withYear ? { year: 'numeric' } : {}) });
  return new Intl.DateTimeFormat(current, opts).format(date);
}

/// A date "2025-01-06" as a long local date.
export function fmtDay(day) {
  if (!day) return t('common.none');
  const [y, m, d] = day.slice(0, 10).split('-').map(Number);
  return new Intl.DateTimeFormat(current, { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

/// An RFC 3339 instant in UTC, to the minute.
export function fmtInstant(iso) {
  if (!iso) return t('common.none');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${new Intl.DateTimeFormat(current, {
    timeZone: 'UTC',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(date)} UTC`;
}

/// A duration in seconds as the largest unit that reads well.
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return t('common.none');
  const units = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  for (const [unit, size] of units) {
    if (seconds >= size || unit === 'second') {
      return nf({ style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1 }).format(seconds / size);
    }
  }
  return String(seconds);
}
