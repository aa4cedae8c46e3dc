"""Stage functions for tests: started by the real supervisor in real child processes."""

from __future__ import annotations

import os
import signal
import time

from rchain.stages import StageContext


def sleep_stage(ctx: StageContext) -> None:
    """Runs 60 s, reporting progress each second; a stop signal ends it."""
    seconds = int(os.environ.get("RCHAIN_TEST_SLEEP_S", "60"))
    for i in range(seconds):
        ctx.progress(i, seconds, unit="s")
        time.sleep(1)
    ctx.progress(seconds, seconds, unit="s")


def stubborn_stage(ctx: StageContext) -> None:
    """Ignores SIGTERM and SIGINT, so only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    while True:
        time.sleep(0.1)


def failing_stage(ctx: StageContext) -> None:
    print("about to fail", flush=True)
    raise RuntimeError("the teacher returned nonsense")


def quick_stage(ctx: StageContext) -> None:
    ctx.message("hello from the quick stage")
    ctx.progress(3, 3)


def leaky_stage(ctx: StageContext) -> None:
    """Tries hard to leak the key it was given into the run directory."""
    key = os.environ["RCHAIN_TEST_SECRET"]
    print(f"calling the API with {key}", flush=True)
    ctx.message(f"using key {key}")
    raise RuntimeError(f"request failed with key={key}")


def tool_stage(ctx: StageContext) -> None:
    """Runs a long 'tool' child in its own process group, as the train stage runs ms-swift."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ctx.message(f"tool pid {child.pid}")
    child.wait()


def filter_with_a_failing_rule(ctx: StageContext) -> None:
    """The real filter stage, with a string rule that raises on one problem and a worker that dies
    (as a crash in native code would end it) on another: bugs and crashes met on real data."""
    import rchain.verify.runner as runner

    rules = runner.precheck

    def precheck(source: str, problem: str, *rest: str):  # type: ignore[no-untyped-def]
        if "RAISE" in problem:
            raise ValueError("a rule's own bug")
        if "DIE" in problem:
            os.kill(os.getpid(), signal.SIGKILL)
        return rules(source, problem, *rest)

    runner.precheck = precheck  # the workers are forked after this, with it
    runner.run(ctx)
