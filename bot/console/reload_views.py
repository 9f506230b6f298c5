"""/console/reload: load edited content and flows into every running process, checks first.

The files on disk are built into a new helpline and checked as `flows check` and `content check`
do; any problem is shown and nothing is reloaded. When they pass, the content version in Redis
moves (bot/ops/reload.py): this process takes the checked helpline at once, every other web
process within a second, every worker before its next job.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for

from bot.console import auth, bp, security
from bot.ops import reload


@bp.get("/reload")
@security.require("editor")
def reload_page():
    c = security.console()
    follower = current_app.extensions["reload"]
    return render_template("console/reload.html", version=follower.content_version,
                           last=reload.last(c.helpline.redis), errors=None)


@bp.post("/reload")
@security.require("editor")
def reload_now():
    c = security.console()
    follower = current_app.extensions["reload"]
    fresh, errors = reload.check_files(c.helpline.settings, c.helpline.redis,
                                       current_app.extensions[reload.BUILD],
                                       c.helpline.extras.get("content_checks", []))
    if errors:
        auth.record("content reload refused", f"{len(errors)} problem(s)")
        return render_template("console/reload.html", version=follower.content_version,
                               last=reload.last(c.helpline.redis), errors=errors), 422
    version = reload.request(c.helpline.redis, security.current_staff().username)
    reload.reload_app(current_app, fresh)
    follower.content_version = version
    auth.record("content reloaded", f"version {version}")
    flash(f"Content and flows reloaded (version {version}). Every other process follows within "
          "a second; workers before their next job.", "ok")
    return redirect(url_for("console.content"))
