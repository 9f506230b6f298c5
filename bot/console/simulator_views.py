"""/console/simulator: text or call the real engine as a test number (editors and admins)."""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for

from bot.console import auth, bp, security
from bot.console.simulator import Simulator, new_number

MAX_TEXT = 1600  # what Twilio accepts in one inbound SMS body, about


def _simulator() -> Simulator:
    c = security.console()
    if "simulator" not in c.extras:
        c.extras["simulator"] = Simulator(c.helpline, current_app.extensions.get("voice"))
    return c.extras["simulator"]


def _number() -> str:
    """This browser session's test number (fictional, never stored in the clear)."""
    if not session.get("sim_number"):
        session["sim_number"] = new_number()
    return session["sim_number"]


@bp.get("/simulator")
@security.require("editor")
def simulator():
    sim = _simulator()
    channel = "voice" if request.args.get("channel") == "voice" else "sms"
    bubbles = [b for b in sim.transcript(_number()) if b.get("channel") == channel]
    locales = security.console().helpline.content.locales
    return render_template("console/simulator.html", bubbles=bubbles, channel=channel,
                           locales=locales, can_call=sim.tree is not None,
                           planned=sim.planned(_number()),
                           nodes=security.console().helpline.flow.nodes)


@bp.post("/simulator/forward")
@security.require("editor")
def simulator_forward():
    """Send the test number's next check-in, or its booked reminder, now."""
    what = "checkin" if request.form.get("what") == "checkin" else "reminder"
    _simulator().fast_forward(_number(), what)
    return redirect(url_for("console.simulator", channel="sms") + "#last")


@bp.post("/simulator/text")
@security.require("editor")
def simulator_text():
    body = (request.form.get("body") or "")[:MAX_TEXT]
    if body.strip():
        _simulator().text(_number(), body)
    return redirect(url_for("console.simulator", channel="sms") + "#last")


@bp.post("/simulator/call")
@security.require("editor")
def simulator_call():
    sim = _simulator()
    start = request.form.get("start") == "1"
    sim.call(_number(), digits=(request.form.get("digits") or "").strip(),
             speech=(request.form.get("speech") or "").strip(), start=start)
    return redirect(url_for("console.simulator", channel="voice") + "#last")


@bp.post("/simulator/reset")
@security.require("editor")
def simulator_reset():
    sim = _simulator()
    locale = request.form.get("lang") or None
    if locale not in security.console().helpline.content.locales:
        locale = None
    sim.reset(_number(), locale)
    session["sim_number"] = new_number()
    sim.reset(_number(), locale)
    auth.record("simulator reset", f"language {locale or 'default'}")
    channel = "voice" if request.form.get("channel") == "voice" else "sms"
    return redirect(url_for("console.simulator", channel=channel))
