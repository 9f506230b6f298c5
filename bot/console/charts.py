"""SVG charts drawn on the server (no script, no library): daily columns and bars.

Counts from 1 to 4 are drawn at the height of 5 and labelled "<5", so a chart never shows more
than the table beside it. Each chart is an image with a name that says what it shows (role="img"
and aria-label), and the page gives the same figures as a table. The drawing is about as wide
as a phone (340 units), so its 13-unit text stays about 13 px on a 390 px screen.
"""
from __future__ import annotations

from markupsafe import Markup, escape

from bot.console.dashboard import SMALL, suppress

WIDTH = 340


def columns(series: list[tuple[str, int]], name: str, height: int = 120) -> Markup:
    """One column per day; the day and its count in each column's tooltip."""
    if not series:
        return Markup('<p class="muted">No days in this range.</p>')
    top = max([SMALL] + [n for _, n in series])
    step = WIDTH / max(len(series), 1)
    total = sum(n for _, n in series)
    label = (f"{name}: {len(series)} days from {series[0][0]} to {series[-1][0]}, "
             f"{suppress(total)} in all, at most {suppress(max(n for _, n in series))} a day")
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height + 38}" role="img" '
             f'aria-label="{escape(label)}"><title>{escape(label)}</title>',
             f'<text x="0" y="14" class="axis">max {top:,} a day</text>']
    for i, (day, n) in enumerate(series):
        shown = max(n, SMALL) if n else 0
        h = round(shown / top * height)
        cls = "bar small" if 0 < n < SMALL else "bar"
        parts.append(f'<rect class="{cls}" x="{i * step + 0.5:.1f}" y="{height + 20 - h}" '
                     f'width="{max(step - 1, 0.5):.1f}" height="{h}"><title>{escape(day)}: '
                     f'{suppress(n)}</title></rect>')
    parts.append(f'<text x="0" y="{height + 36}" class="axis">{escape(series[0][0][5:])}</text>')
    parts.append(f'<text x="{WIDTH}" y="{height + 36}" class="axis" text-anchor="end">'
                 f'{escape(series[-1][0][5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: list[tuple[str, int]], name: str) -> Markup:
    """Horizontal bars with their label and (suppressed) count."""
    if not rows:
        return Markup('<p class="muted">Nothing counted yet.</p>')
    top = max([SMALL] + [n for _, n in rows])
    line = 24
    label = f"{name}: " + ", ".join(f"{r} {suppress(n)}" for r, n in rows)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {line * len(rows)}" role="img" '
             f'aria-label="{escape(label)}"><title>{escape(label)}</title>']
    label_w, bar_w = 140, WIDTH - 190
    for i, (text, n) in enumerate(rows):
        y = i * line
        w = round(max(n, SMALL if n else 0) / top * bar_w)
        parts.append(f'<text x="0" y="{y + 16}" class="label">{escape(str(text)[:18])}</text>')
        parts.append(f'<rect class="bar{" small" if 0 < n < SMALL else ""}" x="{label_w}" '
                     f'y="{y + 4}" width="{w}" height="{line - 8}"></rect>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 16}" class="label">{suppress(n)}'
                     '</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
