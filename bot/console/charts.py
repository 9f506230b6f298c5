"""SVG charts drawn on the server (no script, no library): a daily column chart and bars.

Counts from 1 to 4 are drawn at the height of 5 and labelled "<5", so a chart never shows more
than the table beside it.
"""
from __future__ import annotations

from markupsafe import Markup, escape

from bot.console.dashboard import SMALL, suppress


def columns(series: list[tuple[str, int]], width: int = 620, height: int = 140) -> Markup:
    """One column per day; the day and its count in each column's tooltip."""
    top = max([SMALL] + [n for _, n in series])
    step = width / max(len(series), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + 18}" role="img" '
             f'aria-label="texts in per day">']
    for i, (day, n) in enumerate(series):
        shown = max(n, SMALL) if n else 0
        h = round(shown / top * height)
        cls = "bar small" if 0 < n < SMALL else "bar"
        parts.append(f'<rect class="{cls}" x="{i * step + 1:.1f}" y="{height - h}" '
                     f'width="{step - 2:.1f}" height="{h}"><title>{escape(day)}: '
                     f'{suppress(n)}</title></rect>')
    parts.append(f'<text x="0" y="{height + 14}" class="axis">{escape(series[0][0][5:])}</text>')
    parts.append(f'<text x="{width}" y="{height + 14}" class="axis" text-anchor="end">'
                 f'{escape(series[-1][0][5:])}</text>')
    parts.append(f'<text x="0" y="10" class="axis">max {top:,} a day</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: list[tuple[str, int]], width: int = 420) -> Markup:
    """Horizontal bars with their label and (suppressed) count."""
    if not rows:
        return Markup('<p class="muted">Nothing counted yet.</p>')
    top = max([SMALL] + [n for _, n in rows])
    line = 22
    parts = [f'<svg class="chart" viewBox="0 0 {width} {line * len(rows)}" role="img">']
    label_w, bar_w = 150, width - 210
    for i, (name, n) in enumerate(rows):
        y = i * line
        w = round(max(n, SMALL if n else 0) / top * bar_w)
        parts.append(f'<text x="0" y="{y + 15}" class="label">{escape(str(name)[:22])}</text>')
        parts.append(f'<rect class="bar{" small" if 0 < n < SMALL else ""}" x="{label_w}" '
                     f'y="{y + 4}" width="{w}" height="{line - 8}"></rect>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}" class="label">{suppress(n)}'
                     '</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
