#!/usr/bin/env python3
"""synfin-stat --html FILE in a namespace of our own with known sockets (40 TIME_WAIT toward
one service, 7 CLOSE_WAIT on another): the file is one well-formed, self-contained HTML
document (no script, nothing fetched), its histogram holds the numbers `synfin-stat --json`
and ss count, its by-peer tables name who holds them, and its advice is --advise's."""
import html
import html.parser
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

t = Tap()
VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "col", "area", "base", "source",
        "wbr", "path"}


class Doc(html.parser.HTMLParser):
    """Checks that every element is closed in order and collects what the test reads."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags = [], [], set()
        self.hist, self.ids, self.findings = {}, {}, []
        self.state, self.cell, self.text, self.cur_id = None, 0, "", None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k in ("src", "href"):
            if k in a:
                self.errors.append(f"<{tag} {k}={a[k]}>: the report must fetch nothing")
        if tag == "tr" and "data-state" in a:
            self.state, self.cell = a["data-state"], 0
        if tag == "td" and self.state:
            self.cell += 1
            self.text = ""
        if tag == "div" and "finding" in a.get("class", ""):
            self.findings.append(a["data-id"])
        if "id" in a:
            self.cur_id, self.text = a["id"], ""
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)  # <rect .../>: opened and closed

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self.state and self.cell == 2:
            self.hist[self.state] = int(self.text)
        if tag == "tr":
            self.state = None
        if self.cur_id and tag in ("h2", "td", "table"):
            self.ids[self.cur_id] = self.text
            self.cur_id = None

    def handle_data(self, data):
        self.text += data


class Host:
    def __init__(self):
        self.ns = L.Netns("html")
        self.keep = []
        with self.ns:
            svc = L.listener("127.0.0.2")
            self.svc_port = svc.getsockname()[1]
            self.keep.append(svc)
            pairs = [L.connect_pair(svc, "127.0.0.1") for _ in range(40)]
            for c, _s in pairs:
                c.close()  # this side first: TIME_WAIT here
            for _c, s in pairs:
                s.close()
            app = L.listener("127.0.0.3")
            self.app_port = app.getsockname()[1]
            self.keep.append(app)
            for _ in range(7):
                c, s = L.connect_pair(app)
                c.close()  # the peer closed, the server never does: CLOSE_WAIT
                self.keep.append(s)
        wait_until(lambda: L.ss_hist(self.ns)["TIME_WAIT"] == 40, what="40 TIME_WAIT")
        wait_until(lambda: L.ss_hist(self.ns)["CLOSE_WAIT"] == 7, what="7 CLOSE_WAIT")


def host():
    return L.built_once("the host", Host)


def report(h, *extra):
    fd, path = tempfile.mkstemp(prefix="synfin-stat-", suffix=".html")
    os.close(fd)
    r = h.ns.run([L.stat_bin(), "--html", path] + list(extra))
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    os.unlink(path)
    d = Doc()
    d.feed(text)
    d.close()
    return text, d


@t.test
def well_formed_and_self_contained():
    text, d = report(host())
    assert text.startswith("<!doctype html>"), text[:40]
    assert d.errors == [], d.errors
    assert d.stack == [], f"unclosed: {d.stack}"
    assert "script" not in d.tags and "<script" not in text.lower()
    assert {"html", "head", "body", "style", "table", "svg"} <= d.tags, d.tags


@t.test
def histogram_holds_the_numbers():
    h = host()
    _, d = report(h)
    doc = json.loads(L.stat(["--json"], h.ns).stdout)
    assert list(d.hist) == L.STATES, list(d.hist)
    assert d.hist == doc["tcp_states"], (d.hist, doc["tcp_states"])
    assert d.hist == L.ss_hist(h.ns), (d.hist, L.ss_hist(h.ns))
    assert d.hist["TIME_WAIT"] == 40 and d.hist["CLOSE_WAIT"] == 7, d.hist
    assert int(d.ids["total"]) == sum(d.hist.values())


@t.test
def by_peer_tables_name_the_holders():
    h = host()
    text, d = report(h)
    assert d.ids["TIME_WAIT"].startswith("TIME_WAIT: 40 (40 outgoing, 0 incoming)"), d.ids
    assert d.ids["CLOSE_WAIT"].startswith("CLOSE_WAIT: 7 (0 outgoing, 7 incoming)"), d.ids
    assert f"<td>127.0.0.2:{h.svc_port}</td><td class=\"n\">40</td>" in text
    assert f"<td>:{h.app_port}</td><td class=\"n\">7</td>" in text


@t.test
def advice_is_the_advisors():
    h = host()
    _, d = report(h)
    r = h.ns.run([L.stat_bin(), "--advise", "--json"])
    assert r.returncode in (0, 1), r.stderr
    text, _ = report(h)
    found = json.loads(r.stdout)["findings"]
    assert found and sorted(d.findings) == sorted(f["id"] for f in found), (d.findings, found)
    for f in found:
        assert f["title"] in html.unescape(text), f["title"]


@t.test
def bad_uses_exit_2():
    h = host()
    r = h.ns.run([L.stat_bin(), "--html", "/nonexistent/dir/r.html"])
    assert r.returncode == 2 and "cannot write /nonexistent/dir/r.html" in r.stderr, r
    r = subprocess.run([L.stat_bin(), "--html", "x.html", "--json"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "--html cannot be used with --json" in r.stderr, r


t.done()
