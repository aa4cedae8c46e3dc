"""A local OpenAI-compatible teacher that streams R1-style replies (`rchain teacher-server`).

For the offline demo, the tests and the benchmarks. It answers the problems it was given
(reference answers taken from their solutions' last `\\boxed{}`) right, or wrong at a per-model
error rate, streams `reasoning_content` deltas, then `content` deltas, a usage chunk and
`[DONE]`, at a configurable token rate; and it injects faults on request: 429 with Retry-After,
500, a connection dropped mid-stream, an empty 200 body, a slow first byte, finish_reason
`length`, and `<think>` inside `content` instead of `reasoning_content`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from rchain.records import iter_objects
from rchain.verify.extract import last_boxed, options

FAULTS = ("429", "500", "drop", "empty", "slow", "length", "think_in_content")
_WORDS = (
    "so", "we", "need", "to", "find", "the", "value", "let", "me", "check", "this", "again",
    "first", "compute", "then", "substitute", "wait", "that", "gives", "us", "hmm", "and",
    "therefore", "it", "follows", "step", "by", "consider", "case", "now", "verify", "result",
)


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0
    #: Tokens per second per stream; 0 streams as fast as the socket takes them.
    rate: float = 0.0
    #: Mean reasoning length in tokens.
    reasoning_tokens: int = 60
    #: Each reply's reasoning length varies by up to this fraction (0 = all the same length).
    reasoning_jitter: float = 0.5
    #: Probability of a wrong final answer, by model name; `default_error_rate` for others.
    error_rates: dict[str, float] = field(default_factory=dict)
    default_error_rate: float = 0.1
    #: Probability of each fault per request (keys from FAULTS).
    faults: dict[str, float] = field(default_factory=dict)
    retry_after_s: float = 1.0
    slow_first_byte_s: float = 2.0
    problems: list[Path] = field(default_factory=list)
    seed: int = 0
    #: When set, requests must carry `Authorization: Bearer <api_key>` (else 401).
    api_key: str | None = None


def load_answer_table(paths: list[Path]) -> dict[str, str]:
    """Problem text -> reference answer, from JSONL rows with `problem` and `answer` or `solution`."""
    table: dict[str, str] = {}
    for path in paths:
        for row in iter_objects(path):
            problem = row.get("problem") or row.get("question")
            answer = row.get("answer")
            if answer is None and isinstance(row.get("solution"), str):
                answer = last_boxed(row["solution"])
            if isinstance(problem, str) and answer is not None:
                table[problem.strip()] = str(answer)
    return table


def wrong_answer(answer: str, rng: random.Random, problem: str = "") -> str:
    """A plausible but wrong answer of the same shape (a choice, a number, an interval, ...)."""
    stripped = answer.strip()
    if len(stripped) == 1 and stripped in "ABCDE":
        return rng.choice([c for c in "ABCDE" if c != stripped])
    choice = re.fullmatch(r"\\textbf\{\(([A-E])\)\}\\?\s*(.*)", stripped, re.S)
    if choice:  # `\textbf{(C)}\ 12`: another option, as the problem writes it
        choices = options(problem)
        letter = rng.choice([c for c in (choices or "ABCDE") if c != choice.group(1)])
        return f"\\textbf{{({letter})}}\\ {choices[letter]}" if choices else f"\\textbf{{({letter})}}"
    try:
        value = int(stripped.replace(",", ""))
        return str(value + rng.choice([-3, -2, -1, 1, 2, 5, 10]))
    except ValueError:
        pass
    try:
        return f"{float(stripped) + rng.choice([-1.5, 0.5, 2.0]):g}"
    except ValueError:
        pass
    numbers = list(re.finditer(r"-?\d+", stripped))
    if numbers:  # an interval, a fraction, a polynomial: change its last number
        last = numbers[-1]
        return stripped[: last.start()] + str(int(last.group()) + rng.choice([1, 2, 3])) + stripped[last.end() :]
    return f"{stripped}+1"


class TeacherServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.answers = load_answer_table(options.problems)
        self.rng = random.Random(options.seed)
        self.stats: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/stats", self.stats_handler)

    # -- handlers ----------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return not self.options.api_key or request.headers.get("Authorization") == f"Bearer {self.options.api_key}"

    async def models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid API key")
        names = sorted(set(self.options.error_rates) | {"demo-r1", "demo-r1-distill"})
        data = [{"id": name, "object": "model", "owned_by": "rchain"} for name in names]
        return web.json_response({"object": "list", "data": data})

    async def stats_handler(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.stats))

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            self.stats["unauthorized"] += 1
            return _error(401, "invalid API key")
        try:
            body = orjson.loads(await request.read())
            messages = body["messages"]
            user = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
        except (orjson.JSONDecodeError, KeyError, StopIteration, TypeError):
            return _error(400, "invalid request: need messages with a user turn")
        model = str(body.get("model", "demo-r1"))
        self.stats["requests"] += 1
        fault = self._draw_fault()
        if fault:
            self.stats[f"fault_{fault}"] += 1
        if fault == "429":
            return _error(429, "rate limited", headers={"Retry-After": f"{self.options.retry_after_s:g}"})
        if fault == "500":
            return _error(500, "internal error")
        if fault == "slow":
            await asyncio.sleep(self.options.slow_first_byte_s)

        reasoning, answer_text, correct = self._compose(user, model)
        self.stats["correct" if correct else "wrong"] += 1
        reasoning_tokens = _tokens(reasoning)
        content_tokens = _tokens(answer_text)
        finish = "stop"
        max_tokens = int(body.get("max_tokens") or 1 << 30)
        if fault == "length":
            reasoning_tokens = reasoning_tokens[: max(1, len(reasoning_tokens) // 2)]
            content_tokens, finish = [], "length"
        elif len(reasoning_tokens) + len(content_tokens) > max_tokens:
            keep = max_tokens
            reasoning_tokens, content_tokens = reasoning_tokens[:keep], content_tokens[: max(0, keep - len(reasoning_tokens))]
            finish = "length"
        usage = {
            "prompt_tokens": len(_tokens(user)),
            "completion_tokens": len(reasoning_tokens) + len(content_tokens),
            "total_tokens": len(_tokens(user)) + len(reasoning_tokens) + len(content_tokens),
            "prompt_cache_hit_tokens": 0,
            "prompt_cache_miss_tokens": len(_tokens(user)),
            "completion_tokens_details": {"reasoning_tokens": len(reasoning_tokens)},
        }
        if not body.get("stream"):
            return web.json_response(self._completion(model, reasoning_tokens, content_tokens, finish, usage, fault))

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        if fault == "empty":
            await response.write_eof()
            return response
        events = self._events(model, reasoning_tokens, content_tokens, finish, usage, fault)
        if fault == "drop":
            events = events[: max(2, len(events) // 2)]
        try:
            await self._send(response, events)
            if fault == "drop":
                # Cut the connection without finishing the chunked body: what a proxy reset looks like.
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            # The client went away mid-stream (cancelled, killed): normal for a teacher, not an error.
            self.stats["client_gone"] += 1
        return response

    # -- reply content -------------------------------------------------------------------------

    def _draw_fault(self) -> str | None:
        draw = self.rng.random()
        for fault in FAULTS:
            draw -= self.options.faults.get(fault, 0.0)
            if draw < 0:
                return fault
        return None

    def _compose(self, user: str, model: str) -> tuple[str, str, bool]:
        problem = user.rsplit("\n", 1)[0].strip() if "\n" in user else user.strip()
        gold = self.answers.get(problem) or self.answers.get(user.strip())
        rate = self.options.error_rates.get(model, self.options.default_error_rate)
        correct = gold is not None and self.rng.random() >= rate
        answer = gold if correct else wrong_answer(gold or "0", self.rng, problem)
        mean = self.options.reasoning_tokens
        jitter = self.options.reasoning_jitter
        length = max(1, int(mean * self.rng.uniform(1 - jitter, 1 + jitter)))
        words = [self.rng.choice(_WORDS) for _ in range(length)]
        reasoning = "Let me work through this. " + " ".join(words) + f". So the answer should be {answer}."
        content = f"The final answer is $\\boxed{{{answer}}}$."
        return reasoning, content, correct

    def _events(self, model: str, reasoning: list[str], content: list[str], finish: str, usage: dict, fault: str | None) -> list[bytes]:
        ident = f"chatcmpl-{next(self._ids)}"
        head = b'data: {"id":"' + ident.encode() + b'","object":"chat.completion.chunk","created":' + str(int(time.time())).encode()
        head += b',"model":' + orjson.dumps(model) + b',"choices":[{"index":0,"delta":{'

        def chunk(key: bytes, text: str) -> bytes:
            return head + key + orjson.dumps(text) + b'},"finish_reason":null}]}\n\n'

        if fault == "think_in_content":
            tokens = ["<think>\n", *reasoning, "\n</think>\n\n", *content]
            events = [chunk(b'"content":', t) for t in tokens]
        else:
            events = [chunk(b'"reasoning_content":', t) for t in reasoning]
            events += [chunk(b'"content":', t) for t in content]
        events.insert(0, head + b'"role":"assistant","content":""},"finish_reason":null}]}\n\n')
        events.append(head + b'},"finish_reason":' + orjson.dumps(finish) + b"}]}\n\n")
        events.append(
            b'data: {"id":"' + ident.encode() + b'","object":"chat.completion.chunk","choices":[],"usage":' + orjson.dumps(usage) + b"}\n\n"
        )
        return events

    def _completion(self, model: str, reasoning: list[str], content: list[str], finish: str, usage: dict, fault: str | None) -> dict:
        message = {"role": "assistant", "content": "".join(content), "reasoning_content": "".join(reasoning)}
        if fault == "think_in_content":
            message = {"role": "assistant", "content": f"<think>\n{''.join(reasoning)}\n</think>\n\n{''.join(content)}"}
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }

    async def _send(self, response: web.StreamResponse, events: list[bytes]) -> None:
        rate = self.options.rate
        if rate <= 0:
            for start in range(0, len(events), 64):
                await response.write(b"".join(events[start : start + 64]))
            return
        # Paced: at each tick, everything that is due by then goes out in one write.
        loop = asyncio.get_running_loop()
        tick = max(1.0 / rate, 0.05)
        began = loop.time()
        sent = 0
        while sent < len(events):
            if sent:
                await asyncio.sleep(tick)
            due = min(len(events), max(sent + 1, int((loop.time() - began) * rate)))
            await response.write(b"".join(events[sent:due]))
            sent = due


def _tokens(text: str) -> list[str]:
    """Split text into word-sized "tokens" that concatenate back to the text."""
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]] if parts else []


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    payload = {"error": {"message": message, "type": "rchain_teacher_server", "code": status}}
    return web.json_response(payload, status=status, headers=headers)


async def start(options: ServerOptions) -> tuple[web.AppRunner, str]:
    """Start listening; return the runner (call its cleanup to stop) and the base URL."""
    runner = web.AppRunner(TeacherServer(options).app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for
    return runner, f"http://{options.host}:{port}/v1"


async def serve(options: ServerOptions) -> None:
    """Run until cancelled; prints the base URL once listening."""
    runner, url = await start(options)
    print(f"teacher server listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run_stage(ctx) -> None:
    """The `teachers` stage: serve the run's teachers locally until the stage is stopped."""
    from rchain.errors import Conflict, UsageError
    from rchain.events import ServerStatus
    from rchain.serve import port_in_use

    config = ctx.config
    section = config.teacher_server
    if not section.enabled:
        raise UsageError("teacher_server.enabled is false: this run has no local teacher server")
    if port_in_use(section.host, section.port):
        raise Conflict(f"teacher_server.port: {section.port} on {section.host} is already in use")
    dataset = Path(config.problems.dataset)
    options = ServerOptions(
        host=section.host,
        port=section.port,
        rate=section.rate,
        reasoning_tokens=section.reasoning_tokens,
        error_rates=dict(section.error_rates),
        default_error_rate=section.default_error_rate,
        faults=dict(section.faults),
        problems=[dataset] if dataset.is_file() else [],
        seed=section.seed,
    )
    ctx.cooperative_stop = True

    async def main() -> None:
        runner, url = await start(options)
        ctx.events.emit(ServerStatus(model="teachers", status="ready", url=url, backend="rchain teacher server"))
        ctx.message(f"teacher server listening on {url}")
        try:
            while not ctx.stop_requested.is_set():
                await asyncio.sleep(0.2)
        finally:
            await runner.cleanup()
            ctx.events.emit(ServerStatus(model="teachers", status="stopped", url=url, backend="rchain teacher server"))

    asyncio.run(main())
