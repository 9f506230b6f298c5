"""/console/places: the naloxone sites as managed data.

Viewers see every site with its status and last check, what a ZIP or town gets, and the history
of each site. Editors add and edit sites (staged for review), verify them ("I called them
today") and retire or close them (live at once: hiding is the safe direction), review proposals
and texters' WRONG reports, and import HSDS CSV with a diff first. Every change goes through
bot/places/registry.py, which keeps the site's history and writes the staff audit log.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for

from bot.console import auth, bp, security, site_forms
from bot.conversation.checks import allowed_sources
from bot.conversation.engine import Context, State
from bot.conversation.content import segments
from bot.places import hsds, yamlfile
from bot.places.live import WARN_DAYS
from bot.places.registry import ReviewError, changes
from bot.places.sites import REGIONS, SERVICES, STATUSES, expires
from bot.storage.keys import site_import_key

IMPORT_TTL = 3600


def _helpline():
    return security.console().helpline


def _registry():
    return _helpline().sites.registry


def _today():
    return datetime.now(timezone.utc).date()


def _done(message: str, target: str | None = None):
    """After a change: this process follows at once, the others within a second."""
    _helpline().sites.refresh(force=True)
    flash(message, "ok")
    return redirect(target or url_for("console.places"))


def _refused(message: str, target: str | None = None):
    flash(message, "error")
    return redirect(target or url_for("console.places"))


@bp.get("/places")
@security.require("viewer")
def places():
    helpline = _helpline()
    helpline.sites.refresh(force=True)
    today, max_days = _today(), helpline.settings.sites_verify_max_days
    known = allowed_sources(helpline.settings.content_dir)
    rows = []
    for site in _registry().sites():
        last_day = expires(site, max_days)
        left = (last_day - today).days if last_day else None
        rows.append({"site": site, "offered": site.offered(today, max_days), "left": left,
                     "soon": left is not None and 0 <= left <= WARN_DAYS and site.status == "active",
                     "unknown_source": site.source not in known})
    query = (request.args.get("q") or "").strip()[:80]
    locale = request.args.get("lang") or helpline.settings.default_locale
    locale = locale if locale in helpline.content.locales else helpline.settings.default_locale
    answer = _what_would_they_get(helpline, query, locale) if query else None
    return render_template(
        "console/places.html", rows=rows, statewide=helpline.locator.statewide,
        region=helpline.locator.name, q=query, answer=answer, lang=locale,
        locales=helpline.content.locales, max_days=max_days, warn_days=WARN_DAYS,
        pending=len(_registry().proposals()), reports=helpline.extras["site_reports"].count())


def _what_would_they_get(helpline, query: str, locale: str) -> dict:
    """The SMS reply to this text at the 'where to get naloxone' prompt of a new conversation
    and as a first message: the engine and renderer of POST /sms, no state read or written."""
    now = datetime.now(timezone.utc)
    ctx = Context(channel="sms", locale=locale)
    first = helpline.engine.step(None, query, now, ctx)
    prompt = helpline.engine.step(State(node="naloxone_where", locale=locale), query, now, ctx)
    lookup = helpline.sites.at(now).classify(query)
    return {"anywhere": _shown(helpline, first), "at_prompt": _shown(helpline, prompt),
            "status": lookup.status, "place": lookup.place.label if lookup.place else ""}


def _shown(helpline, outcome) -> dict:
    texts = helpline.conversations.render(outcome, "sms")
    text = texts[0] if texts else ""
    seg = segments(text)
    return {"text": text, "screen": outcome.state.node, "segments": seg.count,
            "encoding": seg.encoding}


# --- one site: its page, the form, verify, retire --------------------------------------------
def _form_context(site=None, data=None, error=None):
    helpline = _helpline()
    return dict(site=site, v=data or site_forms.values(site), error=error, regions=REGIONS,
                services=sorted(SERVICES), statuses=STATUSES,
                sources=sorted(allowed_sources(helpline.settings.content_dir)),
                history=_registry().history(site.id) if site else [],
                proposals=[p for p in _registry().proposals() if site and p.site_id == site.id])


@bp.get("/places/site/<site_id>")
@security.require("viewer")
def site_page(site_id: str):
    site = _registry().get(site_id)
    if site is None:
        abort(404, description=f"No site {site_id!r}.")
    return render_template("console/site.html", **_form_context(site))


@bp.get("/places/new")
@security.require("editor")
def site_new():
    return render_template("console/site.html", **_form_context())


@bp.post("/places/save")
@security.require("editor")
def site_save():
    """Add or edit: a proposal for review, unless the change only hides the site."""
    registry, staff = _registry(), security.current_staff()
    before = registry.get(request.form.get("site_id") or "")
    if request.form.get("site_id") and before is None:
        abort(404, description="That site is gone.")
    try:
        data = site_forms.record(request.form, before, _helpline().locator.state,
                                 staff.username, _today())
        result = registry.change(registry.check(data), staff.username,
                                 (request.form.get("note") or "").strip())
    except (ReviewError, site_forms.FormError) as exc:
        shown = dict(site_forms.values(before), **{k: v for k, v in request.form.items()})
        shown["services"] = request.form.getlist("services") or ["naloxone"]
        return render_template("console/site.html",
                               **_form_context(before, shown, str(exc))), 422
    if hasattr(result, "kind"):
        return _done(f"Change to {result.site_id} proposed (#{result.id}): another editor or "
                     "an admin reviews it before texters see it.", url_for("console.review"))
    return _done(f"{result.id} is now {result.status.replace('_', ' ')}: no longer offered.")


@bp.post("/places/site/<site_id>/verify")
@security.require("editor")
def site_verify(site_id: str):
    try:
        _registry().verify(site_id, security.current_staff().username, _today(),
                           (request.form.get("note") or "").strip())
    except ReviewError as exc:
        return _refused(str(exc))
    return _done(f"{site_id} verified today.")


@bp.post("/places/site/<site_id>/status")
@security.require("editor")
def site_status(site_id: str):
    status = request.form.get("status", "")
    try:
        _registry().set_status(site_id, status, security.current_staff().username,
                               (request.form.get("note") or "").strip())
    except ReviewError as exc:
        return _refused(str(exc))
    return _done(f"{site_id} is now {status.replace('_', ' ')}: no longer offered.")


# --- review: proposals and WRONG reports ------------------------------------------------------
@bp.get("/places/review")
@security.require("viewer")
def review():
    registry = _registry()
    proposals = []
    for p in registry.proposals():
        before = registry.get(p.site_id)
        proposals.append({"p": p, "diff": changes(before.record() if before else None, p.record),
                          "when": datetime.fromtimestamp(p.at, timezone.utc)})
    reports = _helpline().extras["site_reports"].open()
    by_site: dict[str, list] = {}
    for r in reports:
        by_site.setdefault(r["site"], []).append(r)
    return render_template("console/review.html", proposals=proposals, by_site=by_site)


@bp.post("/places/review/<pid>")
@security.require("editor")
def review_decide(pid: str):
    registry, staff = _registry(), security.current_staff()
    target = url_for("console.review")
    try:
        if request.form.get("decision") == "approve":
            site = registry.approve(pid, staff.username, is_admin=staff.can("admin"))
            return _done(f"#{pid} approved: {site.id} is live.", target)
        registry.reject(pid, staff.username, (request.form.get("note") or "").strip())
    except ReviewError as exc:
        return _refused(str(exc), target)
    return _done(f"#{pid} rejected.", target)


@bp.post("/places/reports/<rid>")
@security.require("editor")
def report_close(rid: str):
    outcome = "fixed" if request.form.get("outcome") == "fixed" else "dismissed"
    report = _helpline().extras["site_reports"].close(rid)
    if report is None:
        return _refused("That report was already closed.", url_for("console.review"))
    auth.record(f"WRONG report {outcome}: {report['site']}", f"report #{rid}")
    return _done(f"Report #{rid} closed as {outcome}.", url_for("console.review"))


# --- HSDS import and export, the YAML file ---------------------------------------------------
@bp.get("/places/export.zip")
@security.require("viewer")
def export_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in hsds.export(_registry().sites()).items():
            archive.writestr(name, text)
    return Response(buffer.getvalue(), mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename=naloxone-sites-hsds-{_today()}.zip"})


@bp.get("/places/export.yaml")
@security.require("viewer")
def export_yaml():
    settings = _helpline().settings
    path = settings.content_dir / settings.region / "naloxone_sites.yaml"
    text = yamlfile.render(path.read_text(encoding="utf-8"), _registry().sites())
    return Response(text, mimetype="text/yaml", headers={
        "Content-Disposition": "attachment; filename=naloxone_sites.yaml"})


@bp.route("/places/import", methods=["GET", "POST"])
@security.require("editor")
def import_hsds():
    """Upload the CSV files: see what they would change. Nothing changes here."""
    if request.method == "GET":
        return render_template("console/import.html", files=hsds.FILES + hsds.OPTIONAL)
    files = {}
    for name in hsds.FILES + hsds.OPTIONAL:
        upload = request.files.get(re.sub(r"\W", "_", name))
        if upload and upload.filename:
            files[name] = upload.read(hsds.MAX_BYTES + 1).decode("utf-8-sig", errors="replace")
    registry = _registry()
    try:
        reading = hsds.read(files, registry.bounds)
    except hsds.HSDSError as exc:
        return render_template("console/import.html", files=hsds.FILES + hsds.OPTIONAL,
                               error=str(exc)), 422
    delta = hsds.diff(reading.records, registry.sites(), registry.bounds)
    staged = delta.added + [r for r, _ in delta.changed]
    key = site_import_key(registry.region, security.current_staff().username)
    registry.redis.set(key, json.dumps(staged), ex=IMPORT_TTL)
    return render_template("console/import.html", files=hsds.FILES + hsds.OPTIONAL, delta=delta,
                           problems=reading.problems)


@bp.post("/places/import/stage")
@security.require("editor")
def import_stage():
    """Stage the import just previewed: one proposal per new or changed site."""
    registry, staff = _registry(), security.current_staff()
    key = site_import_key(registry.region, staff.username)
    raw = registry.redis.getdel(key)
    if not raw:
        return _refused("That import preview expired: upload the files again.",
                        url_for("console.import_hsds"))
    made = 0
    for record in json.loads(raw):
        try:
            registry.propose(registry.check(record), staff.username, "HSDS import", "import")
            made += 1
        except ReviewError:
            continue
    return _done(f"{made} change(s) from the import staged for review.", url_for("console.review"))
