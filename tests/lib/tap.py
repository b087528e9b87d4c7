"""Minimal TAP producer for Python system tests (stdlib only).

    from tap import Tap
    t = Tap()

    @t.test
    def half_close_flushes_both_ways():
        ...            # raise (assert) to fail; t.skip_test("reason") to skip

    t.done()           # prints the plan, exits 1 if anything failed

Helpers here are the ones every system test needs: bounded polling instead of sleeps, and
free loopback ports.
"""
import os
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class SkipTest(Exception):
    pass


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.only = os.environ.get("TEST_ONLY")  # "name,name": run only these while debugging

    def _emit(self, line):
        print(line, flush=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            self._emit(f"ok {self.n} - {name}")
        else:
            self.failed += 1
            self._emit(f"not ok {self.n} - {name}")
            if diag:
                for line in str(diag).splitlines():
                    self._emit(f"# {line}")
        return cond

    def skip(self, name, reason):
        self.n += 1
        self._emit(f"ok {self.n} - {name} # SKIP {reason}")

    @staticmethod
    def skip_test(reason):
        raise SkipTest(reason)

    def test(self, fn):
        name = fn.__name__
        if self.only and name not in self.only.split(","):
            return fn
        t0 = time.monotonic()
        try:
            fn()
        except SkipTest as e:
            self.skip(name, str(e))
        except Exception as e:  # noqa: BLE001 - any exception is a failed test
            # The reason first, on one line: a summary that keeps only the head and the tail
            # of a long log still shows why.
            why = " ".join(f"{type(e).__name__}: {e}".split())
            self.ok(False, name, f"reason: {why[:600]}\n{traceback.format_exc()}")
        else:
            self.ok(True, f"{name} ({time.monotonic() - t0:.2f}s)")
        return fn

    def done(self):
        self._emit(f"1..{self.n}")
        sys.exit(1 if self.failed else 0)


def wait_until(pred, timeout=10.0, interval=0.01, what="condition"):
    """Polls pred() until it returns a true value or the deadline passes (then raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port(host="0.0.0.0"):
    """A TCP port the kernel just handed out on host (bind to 0); free again on return. The
    wildcard by default: a port free on every address, since a test may listen (or expect
    nobody to listen) on 127.0.0.1 as well as on the stack tests' 10.79.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_root():
    return os.geteuid() == 0


def build_dir():
    return os.environ.get("SYNFIN_BUILD", "build")


def binary(name):
    """Path of a built binary ($O/bin/NAME)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, build_dir(), "bin", name)
