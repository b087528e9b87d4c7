#!/usr/bin/env python3
"""HAProxy's and nginx's directives: `synfin -t` names synfin's equivalent (exit 2, with the
position), and every word of the parser's table (src/lb/config_hint.c) is on the page it
points to (docs/haproxy.md)."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, binary  # noqa: E402

t = Tap()
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def check(text):
    fd, path = tempfile.mkstemp(prefix="synfin-conf-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        r = subprocess.run([binary("synfin"), "-t", "-c", path], capture_output=True, text=True,
                           timeout=20)
        return r.returncode, r.stderr.replace(path, "x.conf")
    finally:
        os.unlink(path)


@t.test
def haproxy_config_gets_translations():
    cases = [
        ("frontend web {\n    bind 127.0.0.1:8080;\n    backend app;\n}\n"
         "backend app { server a 127.0.0.1:9001; }\n",
         "x.conf:2:5: 'bind' is HAProxy's; synfin says 'listen ADDR:PORT' (one line per address) "
         "(docs/haproxy.md)"),
        ("frontend web {\n    listen 127.0.0.1:8080;\n    timeout client 30s;\n    backend app;\n}\n"
         "backend app { server a 127.0.0.1:9001; }\n",
         "x.conf:3:5: 'timeout client' is HAProxy's; synfin says 'idle_timeout DURATION' in the "
         "frontend (docs/haproxy.md)"),
        ("frontend web { listen 127.0.0.1:8080; backend app; }\n"
         "backend app {\n    server a 127.0.0.1:9001 check;\n}\n",
         "x.conf:3:29: 'check' is HAProxy's; synfin says 'check { ... }' in the backend (for every "
         "server) (docs/haproxy.md)"),
        ("upstream app {\n    server 127.0.0.1:9001;\n}\n",
         "x.conf:1:1: 'upstream' is nginx's; synfin says 'backend NAME { server NAME ADDR:PORT; }' "
         "(docs/haproxy.md)"),
        ("frontend web { listen 127.0.0.1:8080; proxy_pass app; }\n",
         "x.conf:1:39: 'proxy_pass' is nginx's; synfin says 'backend NAME' in the frontend "
         "(docs/haproxy.md)"),
    ]
    for text, want in cases:
        rc, err = check(text)
        assert rc == 2, (rc, err)
        assert want in err, (want, err)


@t.test
def every_word_of_the_table_is_documented():
    src = open(os.path.join(ROOT, "src/lb/config_hint.c")).read()
    doc = open(os.path.join(ROOT, "docs/haproxy.md")).read()
    table = src[src.index("hints[] = {"):src.index("static int is_number")]
    words = set(re.findall(r'\{"[a-z*]+", "([a-z_.-]+)"', table))
    words |= set(re.findall(r'\{"([a-z_]+=)", ', src))
    assert len(words) > 40, words
    missing = sorted(w for w in words if not re.search(r"`[^`]*\b" + re.escape(w), doc))
    assert not missing, f"in config_hint.c, not in docs/haproxy.md: {missing}"


t.done()
