// ECharts option builders for the dashboard's views, and the chart exports (PNG from the live canvas, SVG from a
// server-side-rendering instance of the same option). Builders are plain functions of the data handed to them:
// they never fetch and never read the page's state, so a view's chart is a function of its report.

import { echartsLocale, fmtPct, fmtNum, fmtInt, t } from './i18n.js';

/// Okabe–Ito: distinguishable with every common colour-vision deficiency.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000'];
/// Light yellow to dark blue (ColorBrewer YlGnBu): one direction of lightness, readable in grey.
export const HEAT = ['#ffffd9', '#edf8b1', '#c7e9b4', '#7fcdbb', '#41b6c4', '#1d91c0', '#225ea8', '#0c2c84'];
const INK = '#1f2933';
const MUTED = '#6b7785';
const GRID = '#e4e8ee';
const FONT = 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

const mounted = new Set();

/// Draws `option` into `el` (replacing a chart already there) and keeps it for resizing and exports.
export function mount(el, option, height) {
  const old = globalThis.echarts.getInstanceByDom(el);
  if (old) {
    mounted.delete(old);
    old.dispose();
  }
  el.style.height = `${height}px`;
  const chart = globalThis.echarts.init(el, null, { locale: echartsLocale(), renderer: 'canvas' });
  chart.setOption(withBase(option));
  chart.liucunOption = option;
  chart.liucunHeight = height;
  mounted.add(chart);
  return chart;
}

export function disposeAll() {
  for (const chart of mounted) chart.dispose();
  mounted.clear();
}

let resizeTimer = null;
globalThis.addEventListener?.('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const chart of mounted) if (!chart.isDisposed()) chart.resize();
  }, 120);
});

/// The chart as a PNG data URL, on white, at twice the screen's pixels.
export function pngDataUrl(chart) {
  return chart.getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: '#ffffff' });
}

/// The chart as a standalone SVG document, drawn again by ECharts' SVG renderer at the chart's current size.
export function svgText(chart) {
  const width = chart.getWidth();
  const height = chart.getHeight();
  const ssr = globalThis.echarts.init(null, null, {
    renderer: 'svg',
    ssr: true,
    width,
    height,
    locale: echartsLocale(),
  });
  const option = withBase(chart.liucunOption);
  option.animation = false;
  option.backgroundColor = '#ffffff';
  ssr.setOption(option);
  const svg = ssr.renderToSVGString();
  ssr.dispose();
  return svg;
}

function withBase(option) {
  return {
    animationDuration: 300,
    textStyle: { fontFamily: FONT, color: INK },
    color: PALETTE,
    ...option,
  };
}

function pctAxis(extra = {}) {
  return {
    type: 'value',
    axisLabel: { formatter: (v) => fmtPct(v / 100).replace(/\.0(?=\D*$)/, ''), color: MUTED },
    splitLine: { lineStyle: { color: GRID } },
    ...extra,
  };
}

function categoryAxis(labels, extra = {}) {
  return {
    type: 'category',
    data: labels,
    boundaryGap: false,
    axisLine: { lineStyle: { color: GRID } },
    axisTick: { show: false },
    axisLabel: { color: MUTED, hideOverlap: true },
    ...extra,
  };
}

function legend(extra = {}) {
  return { top: 0, left: 0, icon: 'roundRect', itemWidth: 14, itemHeight: 8, textStyle: { color: INK }, ...extra };
}

/// Lines of ratios (0..1) with a shaded 95% band each. `lines`: [{name, values, ci}], `ci[i]` = [lo, hi] or null.
export function curvesWithBands(xLabels, lines, { title, skipFirst = true } = {}) {
  // Period 0 is 100% by definition: drawing it would squeeze every later period into the bottom of the chart.
  if (skipFirst && xLabels.length > 1) {
    xLabels = xLabels.slice(1);
    lines = lines.map((l) => ({ ...l, values: l.values.slice(1), ci: (l.ci || []).slice(1) }));
  }
  const series = [];
  // Past four lines the bands would cover each other; the tooltip still gives every interval.
  const bands = lines.length <= 4;
  lines.forEach((line, i) => {
    const c = line.color ?? color(i);
    const value = line.values.map((v) => (v === null || v === undefined ? null : v * 100));
    const lo = line.values.map((v, j) => (v === null || v === undefined ? null : (line.ci[j]?.[0] ?? v) * 100));
    const width = line.values.map((v, j) =>
      v === null || v === undefined ? null : ((line.ci[j]?.[1] ?? v) - (line.ci[j]?.[0] ?? v)) * 100,
    );
    const stack = `band${i}`;
    series.push({
      name: line.name,
      type: 'line',
      data: lo,
      stack,
      symbol: 'none',
      lineStyle: { opacity: 0 },
      silent: true,
      tooltip: { show: false },
      legendHoverLink: false,
      z: 1,
    });
    series.push({
      name: line.name,
      type: 'line',
      data: width,
      stack,
      symbol: 'none',
      lineStyle: { opacity: 0 },
      areaStyle: bands ? { color: c, opacity: 0.14 } : undefined,
      silent: true,
      tooltip: { show: false },
      z: 1,
    });
    series.push({
      name: line.name,
      type: 'line',
      data: value,
      symbol: 'circle',
      symbolSize: 4,
      showSymbol: xLabels.length <= 16,
      lineStyle: { width: 2, color: c, type: line.dash ?? 'solid' },
      itemStyle: { color: c },
      z: 3,
      endLabel: lines.length > 1 && lines.length <= 3 ? { show: true, formatter: '{a}', color: c, fontSize: 11 } : undefined,
      liucunCi: line.ci,
    });
  });
  return {
    title: title ? { text: title, left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600 } } : undefined,
    legend: legend({ top: title ? 22 : 0, type: 'scroll', data: lines.map((l) => l.name) }),
    grid: { left: 8, right: lines.length > 1 && lines.length <= 3 ? 90 : 24, top: title ? 56 : 34, bottom: 8, containLabel: true },
    tooltip: {
      trigger: 'axis',
      formatter: (items) => {
        const main = items.filter((it) => it.seriesIndex % 3 === 2 && it.value !== null && it.value !== undefined);
        if (!main.length) return '';
        const rows = main.map((it) => {
          const ci = lines[Math.floor(it.seriesIndex / 3)].ci[it.dataIndex];
          const band = ci ? ` <span style="color:${MUTED}">(${fmtPct(ci[0])}–${fmtPct(ci[1])})</span>` : '';
          return `${it.marker}${escapeHtml(it.seriesName)}: <b>${fmtPct(it.value / 100)}</b>${band}`;
        });
        return `${escapeHtml(items[0].axisValueLabel)}<br>${rows.join('<br>')}`;
      },
    },
    xAxis: categoryAxis(xLabels),
    yAxis: pctAxis({ min: 0 }),
    series,
  };
}

/// Plain lines. `format` turns a value into its label; `yPct` draws ratios as percentages.
export function lines(xLabels, lineList, { format = (v) => fmtNum(v), yPct = false, title, area = false } = {}) {
  return {
    title: title ? { text: title, left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600 } } : undefined,
    legend: legend({ top: title ? 22 : 0, type: 'scroll' }),
    grid: { left: 8, right: 24, top: title ? 56 : 34, bottom: 8, containLabel: true },
    tooltip: {
      trigger: 'axis',
      valueFormatter: (v) => (v === null || v === undefined ? t('common.none') : yPct ? fmtPct(v / 100) : format(v)),
    },
    xAxis: categoryAxis(xLabels),
    yAxis: yPct ? pctAxis({ min: 0 }) : { type: 'value', axisLabel: { color: MUTED, formatter: (v) => format(v) }, splitLine: { lineStyle: { color: GRID } } },
    series: lineList.map((line, i) => ({
      name: line.name,
      type: 'line',
      data: yPct ? line.values.map((v) => (v === null || v === undefined ? null : v * 100)) : line.values,
      symbol: 'circle',
      symbolSize: 4,
      showSymbol: xLabels.length <= 20,
      connectNulls: false,
      lineStyle: { width: 2, color: line.color ?? color(i) },
      itemStyle: { color: line.color ?? color(i) },
      areaStyle: area ? { opacity: 0.08 } : undefined,
    })),
  };
}

/// Bars per category, one series per group. `horizontal` puts categories on the y axis.
export function bars(categories, groups, { format = (v) => fmtNum(v), title, horizontal = false, stack = null, labels = true, pct = false, integer = false } = {}) {
  const valueAxis = pct
    ? pctAxis()
    : {
        type: 'value',
        minInterval: integer ? 1 : undefined,
        axisLabel: { color: MUTED, formatter: (v) => format(v) },
        splitLine: { lineStyle: { color: GRID } },
      };
  const catAxis = { ...categoryAxis(categories), boundaryGap: true, axisLabel: { color: INK, hideOverlap: !horizontal } };
  const show = (v) => (pct ? fmtPct(v / 100) : format(v));
  return {
    title: title ? { text: title, left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600 } } : undefined,
    legend: legend({ top: title ? 22 : 0, type: 'scroll' }),
    grid: { left: 16, right: 48, top: title ? 56 : 34, bottom: 8, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => (v === null || v === undefined ? t('common.none') : show(v)) },
    xAxis: horizontal ? valueAxis : catAxis,
    yAxis: horizontal ? { ...catAxis, inverse: true } : valueAxis,
    series: groups.map((g, i) => ({
      name: g.name,
      type: 'bar',
      stack: stack ?? undefined,
      data: pct ? g.values.map((v) => (v === null || v === undefined ? null : v * 100)) : g.values,
      barMaxWidth: 36,
      itemStyle: { color: g.color ?? color(i), borderRadius: stack ? 0 : 2 },
      label: labels
        ? { show: true, position: horizontal ? 'right' : 'top', color: INK, fontSize: 11, formatter: (p) => (p.value ? show(p.value) : '') }
        : undefined,
    })),
  };
}

/// Lifecycle: stacked bars of new, returning and resurrecting above zero and dormant below.
export function lifecycle(xLabels, statuses, { title } = {}) {
  const colours = { new: '#009E73', returning: '#0072B2', resurrecting: '#E69F00', dormant: '#D55E00' };
  return {
    title: title ? { text: title, left: 0, top: 0, textStyle: { fontSize: 13, fontWeight: 600 } } : undefined,
    legend: legend({ top: title ? 22 : 0 }),
    grid: { left: 8, right: 24, top: title ? 56 : 34, bottom: 8, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => fmtInt(v) },
    xAxis: { ...categoryAxis(xLabels), boundaryGap: true },
    yAxis: { type: 'value', axisLabel: { color: MUTED, formatter: (v) => fmtInt(v) }, splitLine: { lineStyle: { color: GRID } } },
    series: statuses.map((s) => ({
      name: s.name,
      type: 'bar',
      stack: s.status === 'dormant' ? 'below' : 'above',
      data: s.values,
      barMaxWidth: 40,
      itemStyle: { color: colours[s.status] ?? MUTED },
    })),
  };
}

/// The retention triangle of one project: rows are cohorts, columns are periods since the cohort's start.
/// `rows`: the report's rows of that project; cell flags come from `incomplete` and `beyond_data`; cohorts under
/// `smallCohort` persons are faded. Column 0 (always 100%) is drawn in a neutral colour so the scale spends its
/// range on the returns.
export function retentionHeatmap(rows, columns, rowLabel, { width = 900, smallCohort = 20 } = {}) {
  const yLabels = rows.map((r) => rowLabel(r));
  const main = [];
  const first = [];
  const overlay = [];
  let max = 0;
  rows.forEach((row, k) => {
    row.rates.forEach((rate, j) => {
      if (j > 0 && rate !== null && rate > max) max = rate;
    });
  });
  max = max > 0 ? Math.min(1, Math.ceil(max * 20) / 20) : 1;
  const gridLeft = 170;
  const cellWidth = (width - gridLeft - 24) / Math.max(columns.length, 1);
  const labelMode = cellWidth >= 46 ? 'pct' : cellWidth >= 30 ? 'number' : 'none';
  const cellText = (rate) => {
    if (labelMode === 'pct') return fmtPct(rate);
    if (labelMode === 'number') return fmtPct(rate).replace(/\s*%\s*/, '');
    return '';
  };
  rows.forEach((row, k) => {
    const small = row.size < smallCohort;
    row.rates.forEach((rate, j) => {
      const inside = row.counts[j] !== null && row.counts[j] !== undefined;
      if (!inside) return;
      const info = { k, j, rate, count: row.counts[j], size: row.size, ci: row.ci95[j], incomplete: row.incomplete[j], beyond: row.beyond_data[j] };
      if (rate !== null) {
        const dark = rate / max > 0.55;
        const item = {
          value: [j, k, rate * 100],
          label: { color: j === 0 ? INK : dark ? '#ffffff' : rate === 0 ? '#9aa5b1' : INK, formatter: () => cellText(rate) },
          liucun: info,
        };
        (j === 0 ? first : main).push(item);
      }
      if (small || info.incomplete || info.beyond) {
        overlay.push({ value: [j, k], liucun: { ...info, small } });
      }
    });
  });
  const tooltip = {
    formatter: (p) => {
      const info = p.data?.liucun;
      if (!info) return '';
      const lines = [`<b>${escapeHtml(yLabels[info.k])}</b> · ${escapeHtml(columns[info.j])}`];
      if (info.rate !== null) {
        lines.push(t('retention.tooltip.rate', { rate: fmtPct(info.rate), count: fmtInt(info.count), size: fmtInt(info.size) }));
      }
      if (info.ci) lines.push(t('retention.tooltip.ci', { lo: fmtPct(info.ci[0]), hi: fmtPct(info.ci[1]) }));
      if (info.incomplete) lines.push(t('retention.legend.incomplete'));
      if (info.beyond) lines.push(t('retention.legend.partial'));
      if (info.size < smallCohort) lines.push(t('retention.legend.small'));
      return lines.join('<br>');
    },
  };
  const rowHeight = rows.length > 30 ? 16 : rows.length > 14 ? 20 : 26;
  const height = rows.length * rowHeight + 76;
  const option = {
    tooltip: { ...tooltip, confine: true },
    grid: { left: gridLeft, right: 24, top: 58, bottom: 12 },
    xAxis: {
      type: 'category',
      data: columns,
      position: 'top',
      splitArea: { show: false },
      axisTick: { show: false },
      axisLine: { show: false },
      axisLabel: { color: MUTED, fontSize: 11, hideOverlap: true },
    },
    yAxis: {
      type: 'category',
      data: yLabels,
      inverse: true,
      axisTick: { show: false },
      axisLine: { show: false },
      axisLabel: {
        fontSize: rowHeight < 20 ? 10 : 11,
        formatter: (value, index) => {
          const [date, size] = value.split('\u0001');
          const style = rows[index] && rows[index].size < smallCohort ? 'small' : 'normal';
          return `{${style}Date|${date}} {${style}Size|${size}}`;
        },
        rich: {
          normalDate: { color: INK, width: 112, align: 'left' },
          normalSize: { color: INK, width: 40, align: 'right', fontWeight: 600 },
          smallDate: { color: '#a3adb8', width: 112, align: 'left' },
          smallSize: { color: '#a3adb8', width: 40, align: 'right' },
        },
      },
    },
    visualMap: {
      type: 'continuous',
      seriesIndex: 0,
      min: 0,
      max: max * 100,
      calculable: false,
      orient: 'horizontal',
      right: 24,
      top: 0,
      itemWidth: 10,
      itemHeight: 120,
      text: [fmtPct(max), fmtPct(0)],
      textStyle: { color: MUTED, fontSize: 11 },
      inRange: { color: HEAT },
    },
    series: [
      {
        type: 'heatmap',
        data: main,
        label: { show: labelMode !== 'none', fontSize: rowHeight < 20 ? 9 : 10 },
        itemStyle: { borderColor: '#ffffff', borderWidth: 1 },
        emphasis: { itemStyle: { borderColor: INK, borderWidth: 1 } },
      },
      {
        type: 'heatmap',
        data: first,
        label: { show: labelMode !== 'none', fontSize: rowHeight < 20 ? 9 : 10 },
        itemStyle: { color: '#e9edf2', borderColor: '#ffffff', borderWidth: 1 },
      },
      {
        type: 'custom',
        data: overlay,
        renderItem: (params, api) => overlayCell(overlay[params.dataIndex]?.liucun ?? {}, api),
        z: 10,
        silent: false,
        encode: { x: 0, y: 1 },
      },
    ],
  };
  return { option, height };
}

/// Marks drawn over a heatmap cell: a white veil for small cohorts, diagonal hatching for incomplete periods and a
/// dotted outline for periods that run past the project's last stored event.
function overlayCell(info, api) {
  const centre = api.coord([api.value(0), api.value(1)]);
  const size = api.size([1, 1]);
  const w = size[0] - 1;
  const h = size[1] - 1;
  const x0 = centre[0] - w / 2;
  const y0 = centre[1] - h / 2;
  const children = [];
  if (info.small) {
    children.push({ type: 'rect', shape: { x: x0, y: y0, width: w, height: h }, style: { fill: 'rgba(255,255,255,0.62)' } });
  }
  if (info.incomplete) {
    const step = 5;
    for (let a = -h; a < w; a += step) {
      const lo = Math.max(0, -a);
      const hi = Math.min(h, w - a);
      if (lo >= hi) continue;
      children.push({
        type: 'line',
        shape: { x1: x0 + a + lo, y1: y0 + h - lo, x2: x0 + a + hi, y2: y0 + h - hi },
        style: { stroke: 'rgba(31,41,51,0.45)', lineWidth: 1 },
      });
    }
  }
  if (info.beyond) {
    children.push({
      type: 'rect',
      shape: { x: x0 + 1, y: y0 + 1, width: w - 2, height: h - 2 },
      style: { fill: 'none', stroke: INK, lineWidth: 1, lineDash: [2, 2] },
    });
  }
  return { type: 'group', children };
}

export function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
