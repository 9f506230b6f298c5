"""Read-only console pages: dashboard, messages (content), flow map. Viewers and up.
The places pages are in sites_views.py."""
from __future__ import annotations


from flask import abort, current_app, render_template, request

from bot.console import bp, catalogue, charts, dashboard as figures, flowmap, security
from bot.ops import reload



@bp.get("/")
@security.require("viewer")
def dashboard():
    c = security.console()
    data = figures.figures(c.helpline)
    return render_template("console/dashboard.html", d=data, fig=figures.suppress,
                           daily=charts.columns(data["texts_by_day"]),
                           screens=charts.bars(data["screens"]),
                           places=charts.bars(data["places"]))


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
    return render_template("console/flows.html", boxes=boxes, edges=edges, width=width,
                           height=height, W=flowmap.W, H=flowmap.H, problems=problems,
                           nodes=flow.nodes)
