"""Who gets in: anonymous MQTT, the node ACL matrix, replays, every web route, escaping,
login lockout."""

from __future__ import annotations

import itertools
import queue
import re
import time
from pathlib import Path
from typing import Any

from bench.faults.common import Gateway, Result, db_frames, metric_sum, wait_until, workdir
from bench.faults.mqtt_faults import GenuineNode, provisioned_broker

PREFIX = "kizashi/v1"


def _client(port: int, user: str | None, pw: str | None, cid: str) -> tuple[Any, int]:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    if user:
        c.username_pw_set(user, pw)
    rc: dict[str, Any] = {}
    c.on_connect = lambda cl, ud, fl, reason, props: rc.setdefault("rc", reason)
    c.user_data_set(queue.Queue())
    c.on_message = lambda cl, q, msg: q.put((msg.topic, bytes(msg.payload)))
    try:
        c.connect("127.0.0.1", port, 10)
    except OSError:
        return c, -1
    c.loop_start()
    wait_until(lambda: "rc" in rc, 5, 0.02)
    r = rc.get("rc")
    code = -2 if r is None else (r.value if hasattr(r, "value") else int(r))
    if code != 0:
        c.loop_stop()
    return c, code


def _drain(c: Any, wait: float) -> list[tuple[str, bytes]]:
    time.sleep(wait)
    q: queue.Queue[tuple[str, bytes]] = c._userdata
    out = []
    while not q.empty():
        out.append(q.get())
    return out


def mqtt_security(quick: bool) -> Result:
    nodes = ["sa", "sb", "sc"] if quick else ["sa", "sb", "sc", "sd"]
    res = Result(
        "mqtt_security",
        "MQTT: anonymous, wrong password, node ACL matrix, replay",
        False,
        "private mosquitto with provision.py passwd/ACL: anonymous and wrong-password connects "
        f"refused; for every ordered pair of {len(nodes)} nodes, publishing as the other "
        "(data/birth/death/cmd/ack/gateway state) delivers nothing and subscribing to the other's "
        "cmd/ack or '#' receives nothing, while each node's own topics work (controls); a frame "
        "replayed 5x (and replayed by another node) is stored once",
    )
    fig: dict[str, Any] = {}
    violations: list[str] = []
    with workdir("sec") as wd:
        broker, pw, gwc = provisioned_broker(wd, nodes)
        broker.start()
        clients: list[Any] = []
        try:
            c, code = _client(broker.port, None, None, "anon")
            fig["anonymous_connack"] = code
            c2, code2 = _client(broker.port, nodes[0], "wrong-password", "wrongpw")
            fig["wrong_password_connack"] = code2
            clients += [c, c2]
            # observers: the gateway user reads every node's data/birth/death and the state
            g, _ = _client(broker.port, gwc["username"], gwc["password"], "gw-observer")
            clients.append(g)
            for leaf in ("data", "birth", "death"):
                g.subscribe(f"{PREFIX}/node/+/{leaf}", 1)
            g.subscribe(f"{PREFIX}/gateway/+/state", 1)
            nc: dict[str, Any] = {}
            for n in nodes:
                cl, code = _client(broker.port, n, pw[n], n)
                assert code == 0, f"{n} connack {code}"
                cl.subscribe(f"{PREFIX}/node/{n}/cmd", 1)
                cl.subscribe(f"{PREFIX}/node/{n}/ack", 1)
                nc[n] = cl
                clients.append(cl)
            time.sleep(0.5)
            for cl in [g, *nc.values()]:
                _drain(cl, 0)
            # controls: own topics work
            for n in nodes:
                nc[n].publish(f"{PREFIX}/node/{n}/data", b"control-" + n.encode(), qos=1)
                g.publish(f"{PREFIX}/node/{n}/cmd", b"control-cmd", qos=1)
            got_g = _drain(g, 0.7)
            controls_ok = all(
                (f"{PREFIX}/node/{n}/data", b"control-" + n.encode()) in got_g for n in nodes
            ) and all(any(t.endswith("/cmd") for t, _ in _drain(nc[n], 0)) for n in nodes)
            fig["controls_ok"] = controls_ok
            pub_tests = 0
            sub_tests = 0
            for x, y in itertools.permutations(nodes, 2):
                for leaf in ("data", "birth", "death", "cmd", "ack"):
                    nc[x].publish(f"{PREFIX}/node/{y}/{leaf}", b"spoof", qos=1)
                    pub_tests += 1
                nc[x].publish(f"{PREFIX}/gateway/gwf/state", b"offline", qos=1, retain=True)
                pub_tests += 1
            time.sleep(0.7)
            for obs in [g, *nc.values()]:
                for t, p in _drain(obs, 0):
                    if p in (b"spoof", b"offline"):
                        violations.append(f"spoof delivered on {t}")
            # subscriptions to others' topics and wildcards
            for x in nodes:
                for filt in ("#", f"{PREFIX}/#", f"{PREFIX}/node/+/cmd", f"{PREFIX}/node/+/ack"):
                    nc[x].subscribe(filt, 1)
                    sub_tests += 1
                for y in nodes:
                    if y != x:
                        nc[x].subscribe(f"{PREFIX}/node/{y}/cmd", 1)
                        nc[x].subscribe(f"{PREFIX}/node/{y}/ack", 1)
                        sub_tests += 2
            time.sleep(0.5)
            for cl in nc.values():
                _drain(cl, 0)
            for y in nodes:
                g.publish(f"{PREFIX}/node/{y}/cmd", b"secret-cmd-" + y.encode(), qos=1)
                g.publish(f"{PREFIX}/node/{y}/ack", b"secret-ack-" + y.encode(), qos=1)
                nc[y].publish(f"{PREFIX}/node/{y}/data", b"secret-data-" + y.encode(), qos=1)
            time.sleep(0.8)
            for x in nodes:
                for t, p in _drain(nc[x], 0):
                    owner = p.rsplit(b"-", 1)[-1].decode(errors="replace")
                    if p.startswith(b"secret-") and owner != x:
                        violations.append(f"{x} read {t}")
                    if p.startswith(b"secret-data"):
                        violations.append(f"{x} read data topic {t}")
            fig["publish_as_other_cases"] = pub_tests
            fig["subscribe_other_cases"] = sub_tests
            fig["acl_violations"] = len(violations)
        finally:
            for cl in clients:
                try:
                    cl.loop_stop()
                    cl.disconnect()
                except Exception:
                    pass
        # replay through a real gateway process
        gw = Gateway(wd, broker.port, gwc["username"], gwc["password"]).start()
        try:
            time.sleep(1.0)
            node = GenuineNode(broker.port, nodes[0], pw[nodes[0]])
            node.report()
            raw = node.payload[1]
            wait_until(lambda: 1 in node.latency, 10, 0.1)
            for _ in range(5):
                node.c.publish(f"{PREFIX}/node/{nodes[0]}/data", raw, qos=1)
            other, _ = _client(broker.port, nodes[1], pw[nodes[1]], nodes[1] + "-replay")
            other.publish(f"{PREFIX}/node/{nodes[1]}/data", raw, qos=1)
            time.sleep(2.5)
            m = gw.metrics()
            node.close()
            other.loop_stop()
            other.disconnect()
        finally:
            gw.stop()
            broker.stop()
        rows = [r for r in db_frames(gw.db) if r[0] == nodes[0] and r[2] == 1]
        fig["replayed_frame_rows"] = len(rows)
        fig["gateway_duplicates_counted"] = metric_sum(m, "kizashi_frames_duplicate_total")
        fig["topic_mismatch_rejections"] = m.get(
            'kizashi_frames_rejected_total{reason="topic_mismatch"}', 0
        )
    res.figures = fig
    res.notes = violations[:10]
    res.passed = (
        fig["anonymous_connack"] != 0
        and fig["wrong_password_connack"] != 0
        and fig["controls_ok"]
        and not violations
        and fig["replayed_frame_rows"] == 1
        and fig["gateway_duplicates_counted"] >= 5
        and fig["topic_mismatch_rejections"] >= 1
    )
    return res


# ---------------------------------------------------------------- web

MARKUP = '<script>alert("kz")</script><img src=x onerror=alert(1)>'
PASSWORDS = {"viewer": "viewer-pass-123", "tech": "technician-pass-1", "admin": "admin-pass-1234"}
ROLE_OF = {"viewer": "viewer", "tech": "technician", "admin": "admin"}


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    return m.group(1) if m else ""


def _login(app: Any, name: str) -> tuple[Any, str]:
    c = app.test_client()
    tok = _csrf(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"username": name, "password": PASSWORDS[name], "csrf_token": tok})
    assert r.status_code == 302, (name, r.status_code)
    return c, _csrf(c.get("/").get_data(as_text=True))


def web_security(quick: bool) -> Result:
    from fleet_web import create_app
    from fleet_web.auth import PUBLIC, hash_password
    from fleet_web.synth import populate
    from gateway.store import open_store
    from gateway.store.api import Asset, ServiceEntry, User

    res = Result(
        "web_security",
        "Fleet page: login, roles, CSRF, escaping, lockout",
        False,
        "fleet_web.create_app over a real SQLite store: every route of app.url_map except "
        "login/healthz/metrics/static redirects to login (HTML) or answers 401 (API) without a "
        "session; every POST without a CSRF token is refused (400) even for an admin; every "
        "admin route refuses viewer and technician (403) and viewers can POST nothing; "
        "names with markup are escaped on every HTML page; 5 failed logins lock the account "
        "(429, also for the right password) without locking other users; issue 15: a cookie copied "
        "before logout is dead after it, 40 parallel guesses let exactly 5 reach the password "
        "check, login `next` never leaves the site, Unicode digits / 5,000-digit numbers / "
        "100k-deep JSON answer 400 (no 500), /metrics refuses a LAN client without a token",
    )
    fails: list[str] = []
    fig: dict[str, Any] = {}
    with workdir("web") as wd:
        st = open_store(str(Path(wd) / "kizashi.db"))
        populate(st, 4, 24 * 3, time.time())
        for name, pwd in PASSWORDS.items():
            st.upsert_user(User(name, hash_password(pwd), ROLE_OF[name]))
        assets = st.assets()
        a0 = assets[0]
        st.upsert_asset(
            Asset(a0.asset_id, MARKUP, MARKUP, a0.node_id, a0.machine_group, MARKUP, a0.parts)
        )
        st.add_service_entry(ServiceEntry(a0.asset_id, "2024-01-02", "inspection", "", MARKUP, "x"))
        app = create_app({"SECRET_KEY": "faults", "TESTING": True}, store=st)
        values = {
            "asset_id": a0.asset_id,
            # markup without "/": a URL path segment cannot hold one (the route would not match)
            "site": MARKUP.replace("/", ""),
            "name": "viewer",
            "node_id": a0.node_id or "n",
            "entry_id": 1,  # /ledger/<int:entry_id>
            # /proposals/<id>/<step>: an unknown step is no route (404); "send" is one a
            # viewer may not take, so the role check, not the lookup, must answer
            "step": "send",
        }
        rules = [r for r in app.url_map.iter_rules() if r.endpoint not in PUBLIC]
        routes: list[tuple[str, str, str]] = []
        for r in rules:
            args = {k: values.get(k, "events") for k in r.arguments}
            with app.test_request_context():
                from flask import url_for

                url = url_for(r.endpoint, **args)
            for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((r.endpoint, m, url))
        fig["routes_checked"] = len(routes)
        anon = app.test_client()
        for _ep, m, url in routes:
            resp = anon.open(url, method=m)
            if m == "GET":
                ok = resp.status_code == 401 or (
                    resp.status_code == 302 and "/login" in resp.headers.get("Location", "")
                )
            else:
                ok = resp.status_code in (400, 401, 403)
            if not ok:
                fails.append(f"anonymous {m} {url} -> {resp.status_code}")
        admin, _atok = _login(app, "admin")
        posts = [(ep, url) for ep, m, url in routes if m == "POST"]
        for _ep, url in posts:
            resp = admin.post(url, data={"name": "x"})
            if resp.status_code != 400:
                fails.append(f"admin POST {url} without CSRF -> {resp.status_code}")
            resp = admin.post(url, data={"csrf_token": "wrong"})
            if resp.status_code != 400:
                fails.append(f"admin POST {url} with a wrong CSRF -> {resp.status_code}")
        fig["post_routes_csrf_checked"] = len(posts)
        admin_routes = [(ep, m, url) for ep, m, url in routes if ep.startswith("admin.")]
        for who in ("viewer", "tech"):
            c, tok = _login(app, who)
            for _ep, m, url in admin_routes:
                resp = c.open(url, method=m, data={"csrf_token": tok, "role": "admin"},
                              headers={"X-CSRF-Token": tok})  # fmt: skip
                if resp.status_code != 403:
                    fails.append(f"{who} {m} {url} -> {resp.status_code}")
            if who == "viewer":
                for ep, url in posts:
                    if ep == "auth.logout":
                        continue
                    resp = c.post(url, data={"csrf_token": tok, "kind": "inspection",
                                             "date": "2024-01-01"},
                                  headers={"X-CSRF-Token": tok})  # fmt: skip
                    if resp.status_code != 403:
                        fails.append(f"viewer POST {url} -> {resp.status_code}")
        fig["admin_routes_role_checked"] = len(admin_routes) * 2
        viewer_user = st.user("viewer")
        fig["viewer_still_viewer"] = viewer_user is not None and viewer_user.role == "viewer"
        if not fig["viewer_still_viewer"]:
            fails.append("viewer's role changed")
        # escaping: every HTML page an admin can GET
        raw_hits = []
        pages = 0
        for _ep, m, url in routes:
            if m != "GET":
                continue
            resp = admin.get(url)
            if "text/html" not in resp.headers.get("Content-Type", ""):
                continue
            pages += 1
            body = resp.get_data(as_text=True)
            if "<script>alert" in body or "<img src=x onerror" in body:
                raw_hits.append(url)
        fig["html_pages_checked_for_markup"] = pages
        fig["pages_with_unescaped_markup"] = raw_hits
        if raw_hits:
            fails.append(f"unescaped markup on {raw_hits}")
        asset_page = admin.get(f"/assets/{a0.asset_id}").get_data(as_text=True)
        fig["escaped_form_present"] = "&lt;script&gt;" in asset_page
        # lockout
        app2 = create_app({"SECRET_KEY": "faults2", "TESTING": True}, store=st)
        c = app2.test_client()
        tok = _csrf(c.get("/login").get_data(as_text=True))
        codes = []
        for _ in range(5):
            codes.append(
                c.post(
                    "/login",
                    data={"username": "tech", "password": "bad-password!", "csrf_token": tok},
                ).status_code
            )
        right = c.post(
            "/login", data={"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
        ).status_code
        other = c.post(
            "/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": tok}
        ).status_code
        fig["failed_login_codes"] = codes
        fig["right_password_after_5_failures"] = right
        fig["other_user_login"] = other
        if right != 429 or other != 302 or any(x != 401 for x in codes):
            fails.append(f"lockout: {codes} then {right}, other {other}")
        fails += _issue15_web(create_app, st, fig)
        st.close()
    fig["failures"] = len(fails)
    res.figures = fig
    res.notes = fails[:15]
    res.passed = not fails and fig["escaped_form_present"] and len(routes) > 20
    return res


def _issue15_web(create_app: Any, st: Any, fig: dict[str, Any]) -> list[str]:
    """The web holes of issue 15, tried again against the real app and store."""
    import threading

    fails: list[str] = []
    app = create_app({"SECRET_KEY": "faults3", "TESTING": True}, store=st)
    # a cookie copied before logout
    v, vtok = _login(app, "viewer")
    cookie = v.get_cookie("kizashi_session")
    assert cookie is not None
    v.post("/logout", data={"csrf_token": vtok})
    thief = app.test_client()
    thief.set_cookie("kizashi_session", cookie.value)
    fig["copied_cookie_after_logout"] = thief.get("/").status_code
    if fig["copied_cookie_after_logout"] != 302:
        fails.append("a cookie copied before logout still works")
    # 40 parallel guesses, one address
    clients = [app.test_client() for _ in range(40)]
    toks = [_csrf(c.get("/login").get_data(as_text=True)) for c in clients]
    gate = threading.Barrier(40)
    codes: list[int] = []

    def guess(c: Any, tok: str) -> None:
        gate.wait()
        data = {"username": "admin", "password": "guess", "csrf_token": tok}
        codes.append(c.post("/login", data=data).status_code)

    threads = [threading.Thread(target=guess, args=x) for x in zip(clients, toks, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fig["parallel_guesses_checked"] = codes.count(401)
    if codes.count(401) != 5:
        fails.append(f"parallel guesses reaching the password check: {codes.count(401)} of 40")
    # open redirect
    bad_next = ["/%09/evil.example", "/%5Cevil.example", "//evil.example", "https://evil.example",
                "/%0d%0aSet-Cookie:x=1"]  # fmt: skip
    app2 = create_app({"SECRET_KEY": "faults4", "TESTING": True}, store=st)
    left = 0
    for nxt in bad_next:
        c = app2.test_client()
        tok = _csrf(c.get("/login").get_data(as_text=True))
        data = {"username": "tech", "password": PASSWORDS["tech"], "csrf_token": tok}
        r = c.post("/login?next=" + nxt, data=data)
        if r.status_code != 302 or r.headers.get("Location") != "/":
            left += 1
            fails.append(f"next={nxt} -> {r.status_code} {r.headers.get('Location')}")
    fig["redirects_off_site"] = left
    # odd numbers and deep JSON
    admin, atok = _login(app2, "admin")
    odd = 0
    for q in ("limit=\u00b2", "days=" + "9" * 5000, "offset=\u0663"):
        for path in ("/api/assets", "/api/events", "/report?format=json&", "/api/assets/x/history"):
            sep = "" if path.endswith("&") else "?"
            if admin.get(path + sep + q).status_code >= 500:
                odd += 1
    deep = "[" * 100000 + "]" * 100000
    r = admin.post("/api/users", data=deep, content_type="application/json",
                   headers={"X-CSRF-Token": atok})  # fmt: skip
    odd += r.status_code >= 500
    fig["answers_500"] = odd
    if odd:
        fails.append(f"{odd} requests with odd numbers or deep JSON answered 500")
    # /metrics from the LAN
    lan = app2.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.50"})
    fig["metrics_from_lan"] = lan.status_code
    if lan.status_code != 403:
        fails.append(f"/metrics from the LAN without a token -> {lan.status_code}")
    return fails
