"""RQ's dashboard under /admin/rq: console admins (tests/test_console.py), or the deprecated
ADMIN_PASSWORD; never open without one of them."""
from __future__ import annotations

import base64

import pytest
import rq

from bot import create_app
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture()
def admin(redis_url, redis_client):
    return create_app(make_settings(redis_url, ADMIN_PASSWORD=PASSWORD)).test_client()


@pytest.mark.parametrize("path", ["/admin/rq/", "/admin/rq/0/data/queues.json",
                                  "/admin/rq/static/js/jquery-3.5.1.min.js"])
def test_every_dashboard_page_needs_the_password(admin, path):
    for headers in ({}, basic("admin", "wrong"), basic("admin", ""),
                    {"Authorization": "Bearer " + PASSWORD}):
        response = admin.get(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert admin.get(path, headers=basic("admin", PASSWORD)).status_code == 200


def test_the_dashboard_shows_our_redis_database(admin, redis_client):
    rq.Queue("probe", connection=redis_client).enqueue("os.getcwd")

    page = admin.get("/admin/rq/", headers=basic("operator", PASSWORD))
    data = admin.get("/admin/rq/0/data/queues.json", headers=basic("operator", PASSWORD))

    assert page.status_code == 200 and "RQ" in page.get_data(as_text=True)
    assert [(q["name"], q["count"]) for q in data.get_json()["queues"]] == [("probe", 1)]


def test_dashboard_actions_refuse_cross_site_posts(admin, redis_client):
    queue = rq.Queue("probe", connection=redis_client)
    queue.enqueue("os.getcwd")
    empty = "/admin/rq/queue/probe/queued/empty"
    auth = basic("admin", PASSWORD)

    assert admin.post(empty).status_code == 401
    assert admin.post(empty, headers={**auth, "Origin": "https://evil.example"}).status_code == 403
    assert admin.post(empty, headers=auth).status_code == 403
    assert queue.count == 1
    assert admin.post(empty, headers={**auth, "Origin": "http://localhost"}).status_code == 200
    assert queue.count == 0


def test_only_our_one_redis_can_be_browsed(admin):
    response = admin.get("/admin/rq/1/data/queues.json", headers=basic("admin", PASSWORD))

    assert response.status_code == 404


def test_without_admin_password_the_pages_send_you_to_the_console_sign_in(client):
    for path in ("/admin/rq/", "/admin/rq/0/data/queues.json"):
        for headers in ({}, basic("admin", ""), basic("admin", "anything")):
            response = client.get(path, headers=headers)
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/console/login?next=/admin/rq/")
    assert client.post("/admin/rq/queue/probe/queued/empty",
                       headers={"Origin": "http://localhost"}).status_code == 401
