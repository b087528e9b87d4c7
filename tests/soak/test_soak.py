#!/usr/bin/env python3
"""The soak, short (make test): each transport for SOAK_TEST_SECONDS (default 20) of mixed
traffic and faults, judged as `make soak` judges a long run (tests/soak/soak.py). Prints the
run's summary as TAP comments; a failure's first line is the reason."""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)
from tap import Tap  # noqa: E402
import soak  # noqa: E402

SECONDS = float(os.environ.get("SOAK_TEST_SECONDS", 20))
SEED = int(os.environ.get("SOAK_SEED") or 0) or random.SystemRandom().randrange(1, 1 << 20)

t = Tap()


def run(transport):
    r = soak.run_children([transport], SECONDS, SEED, 0, False, stream=False)[transport]
    for line in (soak.summary(r) if "kinds" in r else "").splitlines():
        print(f"# {line}", flush=True)
    if r["failures"]:
        raise AssertionError(f"soak on {transport} (SOAK_SEED={SEED}): "
                             f"{r['failures'][0].splitlines()[0]}")


@t.test
def soak_kernel():
    run("kernel")


@t.test
def soak_stack():
    why = soak.stack_skip_reason()
    if why:
        t.skip_test(why)
    run("stack")


t.done()
