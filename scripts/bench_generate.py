"""Generation throughput: the seed's approach against rchain's generate stage, side by side.

    .venv/bin/python scripts/bench_generate.py [--streams 500 1000] [--rate 30] [--tokens 300]

Both clients run in their own process against the same local teacher server (also its own
process), so each one's CPU time is measured alone:

* seed:   the sync `openai` client, one thread per stream (ThreadPoolExecutor), as the seed did;
* rchain: the real generate stage process (`python -m rchain.stage_process`), writing the raw
          subset and its events, with concurrency = streams;
* floor:  an aiohttp client that reads the bytes and parses nothing: what the local server and
          the loopback can deliver on this box. Below it no client can go.

Printed per scenario: chunks/s, client CPU-seconds per million chunks (the whole client process,
start-up included), wall time from the first request to the last reply against the ideal (reply
length / token rate, all streams in parallel), and rchain's ratio to the seed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."


def seed_client(url: str, streams: int, max_tokens: int) -> None:
    """Child mode: stream `streams` replies with the sync openai client in a thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="EMPTY", max_retries=0, http_client=httpx.Client(limits=httpx.Limits(max_connections=streams + 10), timeout=600))

    def one(i: int) -> int:
        chunks = 0
        reasoning, content = [], []
        stream = client.chat.completions.create(
            model="demo-r1",
            messages=[{"role": "user", "content": f"What is {i} + 1?{PROMPT_SUFFIX}"}],
            max_tokens=max_tokens,
            stream=True,
        )
        for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                piece = getattr(delta, "reasoning_content", None)
                if piece:
                    reasoning.append(piece)
                    chunks += 1
                if delta.content:
                    content.append(delta.content)
                    chunks += 1
        return chunks

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        total = sum(pool.map(one, range(streams)))
    print(json.dumps({"chunks": total, "wall": time.monotonic() - started}))


def floor_client(url: str, streams: int) -> None:
    """Child mode: read every stream's bytes without parsing them."""
    import asyncio

    import aiohttp

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        body = json.dumps({"model": "demo-r1", "messages": [{"role": "user", "content": f"What is {i} + 1?{PROMPT_SUFFIX}"}], "stream": True})
        async with session.post(url + "/chat/completions", data=body, headers={"Content-Type": "application/json"}) as response:
            async for _ in response.content.iter_any():
                pass

    async def main() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)) as session:
            started = time.monotonic()
            await asyncio.gather(*(one(session, i) for i in range(streams)))
            return time.monotonic() - started

    print(json.dumps({"wall": asyncio.run(main())}))


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[dict | None, float, str]:
    """Run a client process; return its JSON line (if any), its CPU seconds and its output."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}:\n{out[-3000:]}")
    line = next((l for l in reversed(out.splitlines()) if l.startswith("{")), None)
    return (json.loads(line) if line else None), usage.ru_utime + usage.ru_stime, out


def start_server(rate: float, tokens: int, problems: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rchain", "teacher-server", "--port", "0", "--rate", str(rate), "--reasoning-tokens", str(tokens),
         "--reasoning-jitter", "0", "--default-error-rate", "0", "--problems", str(problems)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    return proc, url


def stop_server(proc: subprocess.Popen) -> float:
    proc.terminate()
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def rchain_stage(url: str, streams: int, max_tokens: int, workdir: Path) -> tuple[int, float, float]:
    """Run the real generate stage process; return (chunks, wall, cpu)."""
    run_dir = workdir / f"run-{streams}-{time.monotonic_ns()}"
    config = workdir / f"{run_dir.name}.toml"
    config.write_text(
        f"""
[run]
name = "bench"
dir = "{run_dir}"
[problems]
dataset = "{workdir / 'problems.jsonl'}"
limit = {streams}
[[teachers]]
name = "Bench"
model = "demo-r1"
base_url = "{url}"
concurrency = {streams}
max_attempts = 1
[teachers.generation]
max_tokens = {max_tokens}
"""
    )
    from rchain.config import load_config
    from rchain.stages import prepare_run

    run = prepare_run(load_config(config))
    _, cpu, out = run_child([sys.executable, "-m", "rchain.stage_process", str(run.root), "generate"])
    records = [json.loads(line) for line in run.raw_path("Bench").read_text().splitlines()]
    if len(records) != streams:
        raise RuntimeError(f"rchain stage wrote {len(records)} of {streams} records:\n{out[-2000:]}")
    chunks = sum(r["usage"]["completion_tokens"] for r in records)
    # From the first request sent to the last record written, like the seed's measure.
    wall = max(r["created_at"] for r in records) - min(r["created_at"] - r["latency_s"] for r in records)
    return chunks, wall, cpu


def write_problems(path: Path, count: int) -> None:
    with open(path, "w") as fh:
        for i in range(count):
            fh.write(json.dumps({"source": "gsm8k", "problem": f"What is {i} + 1?", "solution": f"It is $\\boxed{{{i + 1}}}$."}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--rate", type=float, default=30.0, help="tokens/s per stream (0 = unpaced)")
    parser.add_argument("--tokens", type=int, default=300, help="reasoning tokens per reply")
    parser.add_argument("--unpaced", action="store_true", help="also run each scenario unpaced")
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets; children inherit it

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_problems(workdir / "problems.jsonl", max(args.streams))
        rates = [args.rate] + ([0.0] if args.unpaced else [])
        for rate in rates:
            for streams in args.streams:
                results = {}
                for name in ("floor", "seed", "rchain"):
                    if name == "seed" and args.skip_seed:
                        continue
                    server, url = start_server(rate, args.tokens, workdir / "problems.jsonl")
                    try:
                        if name == "floor":
                            data, _, _ = run_child([sys.executable, __file__, "_floor", url, str(streams)])
                            results["floor"] = data["wall"]
                            continue
                        if name == "seed":
                            data, cpu, _ = run_child([sys.executable, __file__, "_seed", url, str(streams), "100000"])
                            chunks, wall = data["chunks"], data["wall"]
                        else:
                            chunks, wall, cpu = rchain_stage(url, streams, 100000, workdir)
                    finally:
                        server_cpu = stop_server(server)
                    per_reply = chunks / streams
                    ideal = per_reply / rate if rate else None
                    results[name] = (chunks, wall, cpu, server_cpu, ideal)
                    print(
                        f"rate={rate or 'unpaced':>7} streams={streams:>5} {name:>6}: {chunks / wall:>9,.0f} chunks/s  "
                        f"{cpu / chunks * 1e6:>6.1f} CPU-s/M chunks  wall {wall:6.2f}s"
                        + (f" = {wall / ideal:.3f} x ideal ({ideal:.2f}s)" if ideal else "")
                        + f"  [server {server_cpu:.1f} CPU-s]",
                        flush=True,
                    )
                floor = results["floor"]
                print(
                    f"  floor (read bytes, parse nothing): wall {floor:.2f}s"
                    + (f" = {floor / ideal:.3f} x ideal" if ideal else "")
                    + f"; rchain wall / floor wall = {results['rchain'][1] / floor:.3f}",
                    flush=True,
                )
                if "seed" in results:
                    s, r = results["seed"], results["rchain"]
                    cpu_ratio = (s[2] / s[0]) / (r[2] / r[0])
                    print(f"  -> rchain uses {cpu_ratio:.1f}x less client CPU per chunk; chunks/s ratio {(r[0] / r[1]) / (s[0] / s[1]):.2f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        seed_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_floor":
        floor_client(sys.argv[2], int(sys.argv[3]))
    else:
        main()
