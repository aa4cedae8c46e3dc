"""A streaming teacher client built for thousands of concurrent R1 replies.

* Streaming over aiohttp, SSE parsed with orjson (see sse.py): the per-chunk cost is the limit.
* Retries with exponential backoff and full jitter, honouring Retry-After, on 429, 5xx,
  timeouts, dropped streams, stalled streams and empty or invalid 200 bodies (DeepSeek throttles
  by slowing down or answering an empty 200 rather than a 429).
* One shared cool-down after a 429, RPM and TPM limits, and a concurrency limit that shrinks on
  errors and grows back while requests succeed (AIMD).
* `finish_reason=length` is data, not an error.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import orjson

from rchain.config import Teacher
from rchain.errors import RchainError
from rchain.generate.sse import DONE, SSEParser
from rchain.records import TokenUsage

#: Causes that mean "the server is overloaded": they shrink the concurrency limit.
THROTTLE_CAUSES = frozenset({"http_429", "http_5xx", "empty_body", "stalled", "timeout", "dropped_stream"})


class RequestError(Exception):
    """One failed attempt. `cause` is a short code counted in the progress events."""

    def __init__(self, cause: str, detail: str = "", *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        #: Attempts made when this error ended the request.
        self.attempts = 1


class TeacherUnusable(RchainError):
    """The teacher cannot serve any request (bad key, unknown model): stop, don't retry."""

    title = "Teacher unusable"


@dataclass
class Reply:
    reasoning: str
    content: str
    finish_reason: str
    usage: TokenUsage
    latency_s: float
    first_token_s: float | None
    attempts: int = 1


@dataclass
class StreamCounters:
    """Aggregates a teacher's live stream activity; updated once per network block, not per chunk."""

    reasoning_chunks: int = 0
    content_chunks: int = 0


class StallWatchdog:
    """Cancels streams that have sent nothing for `timeout` seconds.

    One task checks every active stream about once a second; a stream only records the time of
    its last network block. This replaces aiohttp's `sock_read` timeout, which re-arms a timer
    on every read: at 30,000 chunks a second that timer churn was a quarter of the client's CPU.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last_seen: dict[asyncio.Task, float] = {}
        self._stalled: set[asyncio.Task] = set()
        self._checker: asyncio.Task | None = None

    def watch(self, task: asyncio.Task) -> None:
        self._last_seen[task] = time.monotonic()
        if self._checker is None or self._checker.done():
            self._checker = asyncio.get_running_loop().create_task(self._check())

    def touch(self, task: asyncio.Task) -> None:
        self._last_seen[task] = time.monotonic()

    def forget(self, task: asyncio.Task) -> bool:
        """Stop watching; True if the watchdog cancelled this task for stalling."""
        self._last_seen.pop(task, None)
        stalled = task in self._stalled
        self._stalled.discard(task)
        return stalled

    async def _check(self) -> None:
        period = min(1.0, self.timeout / 4)
        while self._last_seen:
            await asyncio.sleep(period)
            deadline = time.monotonic() - self.timeout
            for task, last in list(self._last_seen.items()):
                if last < deadline and task not in self._stalled:
                    self._stalled.add(task)
                    task.cancel()


# ---------------------------------------------------------------------------------------------
# Flow control


class FlowControl:
    """Concurrency gate (AIMD), shared 429 cool-down, and RPM / TPM limits of one teacher."""

    def __init__(self, teacher: Teacher, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = teacher.concurrency
        self.limit = teacher.concurrency
        self.in_flight = 0
        self.rpm = teacher.rpm
        self.tpm = teacher.tpm
        self._clock = clock
        self._cond = asyncio.Condition()
        self._cooldown_until = 0.0
        self._request_times: deque[float] = deque()
        self._token_log: deque[tuple[float, int]] = deque()
        self._tokens_in_window = 0
        self._successes = 0
        self._last_decrease = 0.0

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    async def before_attempt(self) -> None:
        """Wait out the cool-down and the per-minute limits."""
        while True:
            now = self._clock()
            wait = self._cooldown_until - now
            if self.rpm:
                while self._request_times and self._request_times[0] <= now - 60:
                    self._request_times.popleft()
                if len(self._request_times) >= self.rpm:
                    wait = max(wait, self._request_times[0] + 60 - now)
            if self.tpm:
                self._expire_tokens(now)
                if self._tokens_in_window >= self.tpm and self._token_log:
                    wait = max(wait, self._token_log[0][0] + 60 - now)
            if wait <= 0:
                break
            await asyncio.sleep(min(wait, 1.0))
        if self.rpm:
            self._request_times.append(self._clock())

    def cool_down(self, seconds: float) -> None:
        self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)

    @property
    def cooling_down(self) -> bool:
        return self._cooldown_until > self._clock()

    def record_tokens(self, tokens: int) -> None:
        if self.tpm and tokens:
            now = self._clock()
            self._token_log.append((now, tokens))
            self._tokens_in_window += tokens

    def _expire_tokens(self, now: float) -> None:
        while self._token_log and self._token_log[0][0] <= now - 60:
            self._tokens_in_window -= self._token_log.popleft()[1]

    async def on_success(self) -> None:
        self._successes += 1
        if self.limit < self.maximum and self._successes >= self.limit:
            self._successes = 0
            async with self._cond:
                self.limit += 1
                self._cond.notify()

    def on_failure(self, cause: str) -> None:
        if cause not in THROTTLE_CAUSES:
            return
        now = self._clock()
        # One decrease per second: a burst of failures from one overload counts once.
        if now - self._last_decrease >= 1.0:
            self._last_decrease = now
            self.limit = max(1, int(self.limit * 0.75))
            self._successes = 0


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _retry_after(headers: object) -> float | None:
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Client


@dataclass
class TeacherClient:
    teacher: Teacher
    session: aiohttp.ClientSession
    api_key: str | None = None
    counters: StreamCounters = field(default_factory=StreamCounters)
    flow: FlowControl | None = None

    def __post_init__(self) -> None:
        self.flow = self.flow or FlowControl(self.teacher)
        self.watchdog = StallWatchdog(self.teacher.stall_timeout_s)
        self._url = self.teacher.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key}"
        # No sock_read: stalls are the watchdog's job (see StallWatchdog).
        self._timeout = aiohttp.ClientTimeout(total=self.teacher.timeout_s, sock_connect=30)

    def body(self, messages: list[dict[str, str]]) -> bytes:
        gen = self.teacher.generation
        return orjson.dumps(
            {
                "model": self.teacher.model,
                "messages": messages,
                "temperature": gen.temperature,
                "top_p": gen.top_p,
                "max_tokens": gen.max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )

    async def complete(self, messages: list[dict[str, str]], on_retry: Callable[[str], None] = lambda cause: None) -> Reply:
        """A reply, after as many attempts as the teacher allows; RequestError after the last."""
        body = self.body(messages)
        flow = self.flow
        for attempt in range(1, self.teacher.max_attempts + 1):
            await flow.before_attempt()
            try:
                reply = await self.attempt(body)
            except RequestError as error:
                flow.on_failure(error.cause)
                if not error.retryable or attempt == self.teacher.max_attempts:
                    error.attempts = attempt
                    raise
                on_retry(error.cause)
                delay = backoff_delay(attempt, self.teacher.retry_base_s, self.teacher.retry_max_s)
                if error.retry_after is not None:
                    delay = error.retry_after + random.uniform(0, self.teacher.retry_base_s)
                if error.cause == "http_429":
                    flow.cool_down(delay)
                await asyncio.sleep(delay)
                continue
            reply.attempts = attempt
            flow.record_tokens(reply.usage.prompt_tokens + reply.usage.completion_tokens)
            await flow.on_success()
            return reply
        raise AssertionError("unreachable")

    async def attempt(self, body: bytes) -> Reply:
        """One streamed request. Raises RequestError (or TeacherUnusable) on any failure."""
        started = time.monotonic()
        task = asyncio.current_task()
        self.watchdog.watch(task)
        try:
            async with self.session.post(self._url, data=body, headers=self._headers, timeout=self._timeout) as response:
                if response.status != 200:
                    await self._raise_for_status(response)
                return await self._read_stream(response, started, task)
        except asyncio.CancelledError:
            if self.watchdog.forget(task):
                if hasattr(task, "uncancel"):  # Python 3.11+: the cancel was ours, not a stop
                    task.uncancel()
                raise RequestError("stalled", f"nothing received for {self.teacher.stall_timeout_s:g}s") from None
            raise
        except (RequestError, TeacherUnusable):
            raise
        except asyncio.TimeoutError as exc:
            raise RequestError("timeout", f"no complete reply within {self.teacher.timeout_s:g}s {exc}".strip()) from None
        except aiohttp.ClientPayloadError as exc:
            raise RequestError("dropped_stream", str(exc).splitlines()[0] if str(exc) else "") from None
        except aiohttp.ClientError as exc:
            cause = "dropped_stream" if isinstance(exc, aiohttp.ServerDisconnectedError) else "connection"
            raise RequestError(cause, f"{type(exc).__name__}: {exc}") from None
        finally:
            self.watchdog.forget(task)

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        status = response.status
        text = (await response.text(errors="replace"))[:300]
        if status in (401, 403):
            env = self.teacher.api_key_env or "(no api_key_env set)"
            raise TeacherUnusable(
                f"teacher {self.teacher.name}: the API refused the key (HTTP {status}); check ${env}"
            )
        if status == 404:
            raise TeacherUnusable(f"teacher {self.teacher.name}: {self._url} answered 404 for model {self.teacher.model!r}: {text}")
        if status == 429:
            raise RequestError("http_429", text, retry_after=_retry_after(response.headers))
        if status >= 500 or status == 408:
            raise RequestError("http_5xx", f"HTTP {status}: {text}", retry_after=_retry_after(response.headers))
        raise RequestError(f"http_{status}", text, retryable=False)

    async def _read_stream(self, response: aiohttp.ClientResponse, started: float, task: asyncio.Task) -> Reply:
        parser = SSEParser()
        loads = orjson.loads
        reasoning: list[str] = []
        content: list[str] = []
        finish_reason = ""
        usage: TokenUsage | None = None
        first_token: float | None = None
        done = False
        payloads_seen = 0
        counters = self.counters
        touch = self.watchdog.touch
        async for block in response.content.iter_any():
            touch(task)
            n_reasoning = n_content = 0
            for payload in parser.feed(block):
                if payload == DONE:
                    done = True
                    break
                payloads_seen += 1
                try:
                    chunk = loads(payload)
                except orjson.JSONDecodeError:
                    raise RequestError("invalid_body", payload[:200].decode(errors="replace")) from None
                if "error" in chunk and not chunk.get("choices"):
                    raise RequestError("stream_error", str(chunk["error"])[:300])
                choices = chunk.get("choices")
                if choices:
                    choice = choices[0]
                    delta = choice.get("delta") or {}
                    piece = delta.get("reasoning_content") or delta.get("reasoning")
                    if piece:
                        reasoning.append(piece)
                        n_reasoning += 1
                    piece = delta.get("content")
                    if piece:
                        content.append(piece)
                        n_content += 1
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                raw_usage = chunk.get("usage")
                if raw_usage:
                    usage = _parse_usage(raw_usage)
            if n_reasoning or n_content:
                if first_token is None:
                    first_token = time.monotonic() - started
                counters.reasoning_chunks += n_reasoning
                counters.content_chunks += n_content
            if done:
                break
        if payloads_seen == 0:
            raise RequestError("empty_body", "HTTP 200 with no data")
        if not finish_reason:
            raise RequestError("dropped_stream", "the stream ended without a finish_reason")
        if usage is None:  # the server reported none: count chunks instead
            usage = TokenUsage(completion_tokens=len(reasoning) + len(content), reasoning_tokens=len(reasoning), reported=False)
        return Reply(
            reasoning="".join(reasoning),
            content="".join(content),
            finish_reason=finish_reason,
            usage=usage,
            latency_s=time.monotonic() - started,
            first_token_s=first_token,
        )


def _parse_usage(raw: dict) -> TokenUsage:
    details = raw.get("completion_tokens_details") or {}
    prompt_details = raw.get("prompt_tokens_details") or {}
    cache_hit = raw.get("prompt_cache_hit_tokens")  # DeepSeek
    if cache_hit is None:
        cache_hit = prompt_details.get("cached_tokens") or 0  # OpenAI
    return TokenUsage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
        cache_hit_tokens=int(cache_hit or 0),
        reported=True,
    )


async def preflight(teacher: Teacher, api_key: str | None) -> list[str]:
    """Check endpoint, key and model once, through the openai client, before any work starts.

    Returns warnings; raises TeacherUnusable when no request could succeed. Servers without a
    /models endpoint pass (only the chat endpoint is required).
    """
    import openai

    client = openai.AsyncOpenAI(base_url=teacher.base_url, api_key=api_key or "EMPTY", max_retries=2, timeout=30.0)
    try:
        page = await client.models.list()
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        env = teacher.api_key_env or "(no api_key_env set)"
        raise TeacherUnusable(f"teacher {teacher.name}: the API refused the key (HTTP {exc.status_code}); check ${env}") from None
    except openai.APIConnectionError as exc:
        raise TeacherUnusable(f"teacher {teacher.name}: cannot reach {teacher.base_url}: {exc}") from None
    except (openai.NotFoundError, openai.APIStatusError):
        return []
    finally:
        await client.close()
    served = [model.id for model in page.data]
    if served and teacher.model not in served:
        return [f"teacher {teacher.name}: {teacher.base_url} does not list model {teacher.model!r} (it lists {', '.join(served[:8])})"]
    return []
