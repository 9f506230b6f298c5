"""Read-only console pages: dashboard, messages (content), flow map. Viewers and up.
The places pages are in sites_views.py."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from flask import Response, abort, current_app, render_template, request

from bot.console import bp, catalogue, charts, dashboard as figures, flowmap, security
from bot.ops import reload



def _range_figures():
    c = security.console()
    today = datetime.now(timezone.utc).date()
    start, end, problem = figures.date_range(request.args.get("from"), request.args.get("to"),
                                             today)
    return figures.figures(c.helpline, start, end), problem


@bp.get("/")
@security.require("viewer")
def dashboard():
    data, problem = _range_figures()
    span = f"{data['start']} to {data['end']}"
    return render_template("console/dashboard.html", d=data, fig=figures.suppress,
                           problem=problem, span=span,
                           daily=charts.columns(data["texts_by_day"], "Texts in per day"),
                           unknown=charts.columns([(r["day"], r["not_understood"])
                                                   for r in data["daily"]],
                                                  "Texts not understood per day"),
                           screens=charts.bars(data["screens"], "Most visited screens"),
                           places=charts.bars(data["places"], "Places looked up"))


@bp.get("/dashboard.csv")
@security.require("viewer")
def dashboard_csv():
    """The daily figures of the range as CSV, with the dashboard's "<5" rule."""
    data, _ = _range_figures()
    columns, rows = figures.csv_rows(data)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    name = f"helpline-daily-{data['start']}-{data['end']}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _catalogue():
    """Built once per process (a few seconds: every message rendered and graded), from the
    content this process loaded at start-up, which is what people are being sent."""
    c = security.console()
    if "catalogue" not in c.extras:
        c.extras["catalogue"] = catalogue.build(c.helpline)
    return c.extras["catalogue"]


@bp.get("/content")
@security.require("viewer")
def content():
    c = security.console()
    messages, loose = _catalogue()
    query = (request.args.get("q") or "").strip()[:80]
    channel = request.args.get("channel", "sms")
    channel = channel if channel in ("sms", "voice") else "sms"
    locales = c.helpline.content.locales
    if query:
        folded = query.lower()
        messages = [m for m in messages if folded in m.key.lower()
                    or any(folded in s for s in m.screens)
                    or any(folded in t["text"].lower() for t in m.texts.values())]
    only_problems = request.args.get("problems") == "1"
    if only_problems:
        messages = [m for m in messages if m.problems]
    follower = current_app.extensions.get("reload")
    return render_template("console/content.html", messages=messages, loose=loose, q=query,
                           channel=channel, locales=locales, only_problems=only_problems,
                           version=follower.content_version if follower else 0,
                           reloaded=reload.last(c.helpline.redis))


@bp.get("/content/<key>")
@security.require("viewer")
def message(key: str):
    messages, _ = _catalogue()
    found = next((m for m in messages if m.key == key), None)
    if found is None:
        abort(404, description=f"No message {key!r}.")
    c = security.console()
    return render_template("console/message.html", m=found, locales=c.helpline.content.locales)


@bp.get("/flows")
@security.require("viewer")
def flows():
    c = security.console()
    flow = c.helpline.flow
    boxes, edges, width, height = flowmap.layout(flow)
    edges = [e for e in edges if not e.back]  # "0 = menu" and BACK links are everywhere
    problems = [b for b in boxes if b.problem]
    today = datetime.now(timezone.utc).date()
    start, end, problem = figures.date_range(request.args.get("from"), request.args.get("to"),
                                             today)
    visits, moves = flowmap.counts(c.helpline.store, figures.days_between(start, end))
    return render_template("console/flows.html", boxes=boxes, edges=edges, width=width,
                           height=height, W=flowmap.W, H=flowmap.H, problems=problems,
                           nodes=flow.nodes, visits=visits, moves=moves, fig=figures.suppress,
                           start=start, end=end, problem=problem,
                           top_moves=sorted(moves.items(), key=lambda kv: -kv[1])[:15])
