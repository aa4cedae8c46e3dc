"""Running a wrapped tool (`swift sft`, `swift deploy`) as the child of a stage process.

The child shares the stage's process group, so the supervisor's stop signals reach the tool and
every process the tool starts (`swift` is a wrapper that runs the trainer, or torchrun and its
workers, as its own children). Its stdout and stderr go straight to the stage's output.log. Its
environment is the stage's minus every secret the config names: a trainer has no use for a
teacher's API key, and so can never print one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping

import psutil

from rchain.config import PipelineConfig, SwiftValue
from rchain.runs import log_tail

POLL_S = 0.5
#: After a stop request, how long the child gets to exit on the signal it already received
#: before it is sent SIGTERM, then SIGKILL.
STOP_WAIT_S = 30.0


def swift_flags(args: Mapping[str, SwiftValue]) -> list[str]:
    """`--name value` pairs in ms-swift's spelling: booleans as true/false, lists as several
    values, dict-like JSON strings as they are."""
    out: list[str] = []
    for name, value in args.items():  # names were checked when the config was read
        out.append(f"--{name}")
        if isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, list):
            out.extend(_scalar(v) for v in value)
        else:
            out.append(_scalar(value))
    return out


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def swift_argv(subcommand: str, flags: list[str]) -> list[str]:
    """The command that runs `swift SUBCOMMAND` with this interpreter (no PATH lookup)."""
    return [sys.executable, "-m", "swift.cli.main", subcommand, *flags]


def shell_command(argv: list[str], env: Mapping[str, str]) -> str:
    """A copy-pasteable rendering: `ENV=... swift sft \\` then one flag and its value per line."""
    if argv[1:3] == ["-m", "swift.cli.main"]:
        argv = ["swift", *argv[3:]]
    head = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    words = head + [shlex.quote(argv[0]), shlex.quote(argv[1])] if len(argv) > 1 else head + argv
    lines = [" ".join(words)]
    i = 2
    while i < len(argv):
        group = [argv[i]]
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            group.append(argv[i])
            i += 1
        lines.append("    " + " ".join(shlex.quote(w) for w in group))
    return " \\\n".join(lines)


def child_env(config: PipelineConfig | None, extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for name in config.secret_env_names() if config else ():
        env.pop(name, None)
    env.update(extra)
    return env


_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory"), lambda m: "out of GPU memory"),
    (re.compile(r"(NCCL (?:error|timeout)[^\n]*|ncclInternalError[^\n]*|ProcessGroupNCCL[^\n]*(?:timeout|Timeout)[^\n]*)"), lambda m: m.group(1).strip()),
    (re.compile(r"remaining_argv: (\[[^\]]*\])"), lambda m: f"ms-swift does not know the argument(s) {m.group(1)}"),
    (re.compile(r"address already in use", re.I), lambda m: "the port is already in use"),
    (re.compile(r"No space left on device"), lambda m: "no space left on device"),
)
_EXCEPTION = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b:?.*)$")


def failure_reason(lines: Iterable[str]) -> str:
    """The most telling line of a failed tool's output tail: a known cause first (OOM, NCCL, an
    unknown argument), then the last exception line, then the last non-empty line."""
    lines = list(lines)
    text = "\n".join(lines)
    for pattern, describe in _REASONS:
        match = pattern.search(text)
        if match:
            return describe(match)
    for line in reversed(lines):
        match = _EXCEPTION.match(line)
        if match:
            return match.group(1)[:300]
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return "no output"


class Child:
    """A tool process started by a stage, waited on with a stop request in mind."""

    def __init__(self, argv: list[str], env: Mapping[str, str], *, cwd: str | None = None) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL)

    def wait(
        self,
        stop_requested: Callable[[], bool],
        *,
        every: Callable[[], object] = lambda: None,
        until: Callable[[], bool] = lambda: False,
        stop_wait: float = STOP_WAIT_S,
    ) -> int | None:
        """Wait for the child to exit, calling `every` each poll. Returns its exit code; None when
        `until()` turned true first (the child keeps running). After a stop request the child,
        which got the same signal through the process group, has `stop_wait` seconds to exit;
        then it and its descendants get SIGTERM, and after as long again SIGKILL."""
        stop_at: float | None = None
        sent: set[int] = set()
        while True:
            code = self.proc.poll()
            every()
            if code is not None:
                return code
            if until():
                return None
            if stop_requested():
                now = time.monotonic()
                stop_at = now if stop_at is None else stop_at
                for signum, after in ((signal.SIGTERM, stop_wait), (signal.SIGKILL, 2 * stop_wait)):
                    if now - stop_at > after and signum not in sent:
                        self.signal_tree(signum)
                        sent.add(signum)
            time.sleep(POLL_S)

    def signal_tree(self, signum: int) -> None:
        """Signal the child and every process below it (the wrapper alone would orphan them)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                proc.send_signal(signum)
            except psutil.NoSuchProcess:
                pass

    def stop(self, signum: int, timeout: float = STOP_WAIT_S) -> int:
        """Signal the child's tree, wait up to `timeout`, then SIGKILL it. Returns the exit code."""
        if self.proc.poll() is None:
            self.signal_tree(signum)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_tree(signal.SIGKILL)
        return self.proc.wait()


def tail_reason(log_path, lines: int = 60) -> str:
    return failure_reason(log_tail(log_path, lines=lines, max_bytes=65536))
