"""The report page's style sheet and script, and the paper it is printed on. No Dagster imports.

On screen each chart fills the column and stays interactive. For paper (the PDF, or a
reader's own Ctrl-P) every plot is laid out again at the printable width, so the PDF holds
the live plotly SVG (vectors, real text) with fonts at their own size, never a scaled image.
"""

from __future__ import annotations

# A4 portrait, margins in inches; the footer sits in the bottom margin
PAPER = {"paperWidth": 8.27, "paperHeight": 11.69, "marginTop": 0.55, "marginBottom": 0.7,
         "marginLeft": 0.5, "marginRight": 0.5}
PAGE_WIDTH = 690  # CSS px of a chart on paper: (8.27 - 2 x 0.5) in x 96 = 698, minus a little slack
# on paper a chart is laid out this wide and shrunk to the page (CSS zoom): its layout (legends,
# side panels, label room) stays close to the one it was designed at, and 10 px text prints at 6.3 pt
PRINT_LAYOUT_WIDTH = 820
PRINT_MAX_HEIGHT = 920  # x the zoom: at most ~775 px of a ~1000 px page
PAGE_PLOT_HEIGHT = 775  # CSS px of a page a chart may take (its heading and notes need the rest)


def print_size(width: int, height: int, fixed: bool = False) -> dict:
    """How a chart of this size is laid out for paper: width and height, and the zoom that fits it.
    A narrower layout keeps part of its height (the square root of the width's ratio): a line
    chart does not turn into a tower, and bars keep room for their labels.

    A `fixed` chart (a table: its rows neither shrink nor re-wrap, so a shorter or narrower
    layout would drop rows) keeps its own size and is only zoomed to fit the page."""
    if fixed:
        zoom = min(1.0, PAGE_WIDTH / width, PAGE_PLOT_HEIGHT / height) if width > 0 and height > 0 else 1.0
        return {"width": width, "height": height, "zoom": round(zoom, 4)}
    layout_width = min(width, PRINT_LAYOUT_WIDTH)
    layout_height = round(height * (layout_width / width) ** 0.5) if width > 0 else height
    return {"width": layout_width, "height": min(layout_height, PRINT_MAX_HEIGHT),
            "zoom": round(min(1.0, PAGE_WIDTH / layout_width), 4)}


def footer_template(page_word: str, of_word: str, title: str) -> str:
    """printToPDF's footer: the report title and 'Page N of M' (its own tiny default font is
    replaced; the template has no access to the page's style sheet)."""
    from html import escape

    style = ("font-family: Arial, 'Liberation Sans', sans-serif; font-size: 8px; color: #64748b; width: 100%; "
             "padding: 0 0.5in; display: flex; justify-content: space-between;")
    return (f'<div style="{style}"><span>{escape(title)}</span><span>{page_word} <span class="pageNumber"></span> '
            f'{of_word} <span class="totalPages"></span></span></div>')


CSS = """
:root { --ink: #1e293b; --muted: #64748b; --rule: #e2e8f0; --accent: #2563eb; --warn: #b45309; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 34px; line-height: 1.2; margin: 0 0 8px; }
h2 { font-size: 22px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--rule); }
a { color: var(--accent); text-decoration: none; }
.cover { padding: 72px 0 40px; border-bottom: 4px solid var(--accent); margin-bottom: 32px; }
.cover .kicker { text-transform: uppercase; letter-spacing: .08em; color: var(--accent); font-weight: bold;
                 font-size: 13px; margin-bottom: 12px; }
.cover table { border-collapse: collapse; margin-top: 36px; width: 100%; }
.cover th { text-align: left; vertical-align: top; color: var(--muted); font-weight: normal; width: 26%;
            padding: 7px 12px 7px 0; border-top: 1px solid var(--rule); }
.cover td { padding: 7px 0; border-top: 1px solid var(--rule); overflow-wrap: anywhere; }
.cover code { font-size: 13px; }
.toc ul { list-style: none; padding-left: 0; margin: 0; }
.toc li { margin: 3px 0; }
.toc .missing, .toc .missing a { color: var(--muted); }
section { margin: 40px 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 12px; }
.figure { border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px; break-inside: avoid; }
.figure .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.figure .value { font-size: 24px; font-weight: bold; margin: 2px 0; overflow-wrap: anywhere; }
.figure .note { color: var(--muted); font-size: 12.5px; }
.chart-block { break-inside: avoid; page-break-inside: avoid; }
.plot { width: 100%; }
.static-chart svg, .static-chart img { width: 100%; height: auto; display: block; }
.footnotes { list-style: none; padding: 0; margin: 8px 0 0; color: var(--muted); font-size: 12.5px; }
.footnotes li { margin: 2px 0; }
.render-line { color: var(--muted); font-size: 11.5px; margin: 6px 0 0; }
.stale, .static-note { border-left: 4px solid var(--warn); background: #fffbeb; padding: 6px 10px;
                       font-size: 13px; margin: 8px 0; }
.description { margin-top: 14px; padding: 10px 14px; background: #f8fafc; border-radius: 6px;
               border: 1px solid var(--rule); }
.description h3 { margin: 0 0 6px; font-size: 15px; }
.description .ai-note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.missing-list li { margin: 4px 0; }
.missing-list .reason { color: var(--warn); }
.about { color: var(--muted); font-size: 13px; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 26pt; }
  h2 { font-size: 15pt; break-after: avoid; }
  .cover { min-height: 9.6in; padding-top: 1.6in; border-bottom: none; margin: 0; break-after: page; }
  .toc { break-after: page; }
  section { margin: 0 0 18px; }
  section.chart { break-before: page; }
  #missing { break-before: page; }
  .figures { grid-template-columns: repeat(2, 1fr); }
  .figure .value { font-size: 17pt; }
  .modebar-container { display: none !important; }
  a { color: inherit; }
}
"""

SCRIPT = """
(function () {
  const figures = JSON.parse(document.getElementById('report-figures').textContent);
  const plots = Object.keys(figures).map(function (key) {
    return {key: key, fig: figures[key], div: document.getElementById('plot-' + key)};
  });
  // opened for printing (print media from the start, as the PDF is made): laid out for paper at once
  let onPaper = window.matchMedia('print').matches;
  // the zoom is set once a plot is drawn, never while it is laid out: plotly.js measures text
  // (a table's right-aligned cells) with getBoundingClientRect, which a zoom would shrink
  function paperSize(p, on) {
    p.div.style.width = on ? p.fig.print.width + 'px' : '';
    p.div.style.zoom = '';
    return on ? {width: p.fig.print.width, height: p.fig.print.height}
              : {width: null, height: p.fig.layout.height, autosize: true};
  }
  function zoomed(p, on) { p.div.style.zoom = on ? String(p.fig.print.zoom) : ''; }
  window.reportDrawn = Promise.all(plots.map(function (p) {
    const layout = Object.assign({}, p.fig.layout, paperSize(p, onPaper));
    if (!onPaper) delete layout.width;
    return Plotly.newPlot(p.div, p.fig.data, layout, p.fig.config).then(function () { zoomed(p, onPaper); });
  })).then(function () { document.body.setAttribute('data-drawn', String(plots.length)); return true; });
  function forPaper(on) {
    onPaper = on;
    return Promise.all(plots.map(function (p) {
      return Plotly.relayout(p.div, paperSize(p, on)).then(function () { zoomed(p, on); });
    }));
  }
  window.reportForPrint = function () {
    return window.reportDrawn.then(function () { return onPaper ? true : forPaper(true); })
                             .then(function () { return true; });
  };
  window.addEventListener('beforeprint', function () { if (!onPaper) forPaper(true); });
  window.addEventListener('afterprint', function () { if (onPaper) forPaper(false); });
})();
"""
