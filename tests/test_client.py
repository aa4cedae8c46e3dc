"""The teacher client against the local teacher server over real HTTP, one fault at a time."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from rchain.config import Teacher
from rchain.demo.teacher_server import ServerOptions, start
from rchain.generate.client import FlowControl, RequestError, TeacherClient

MESSAGES = [{"role": "user", "content": "What is 2+2?\nPlease reason step by step, and put your final answer within \\boxed{}."}]


@pytest.fixture
async def serve():
    runners = []

    async def serve_on_free_port(**options) -> str:
        runner, url = await start(ServerOptions(port=0, **options))
        runners.append(runner)
        return url

    yield serve_on_free_port
    for runner in runners:
        await runner.cleanup()


def teacher(base_url: str, **kw) -> Teacher:
    fields = dict(name="T", model="demo-r1", base_url=base_url, max_attempts=3, retry_base_s=0.01, retry_max_s=0.05, stall_timeout_s=5.0)
    fields.update(kw)
    return Teacher(**fields)


async def complete(t: Teacher):
    retries: list[str] = []
    async with aiohttp.ClientSession() as session:
        client = TeacherClient(t, session)
        try:
            return await client.complete(MESSAGES, on_retry=retries.append), retries, client
        except RequestError as error:
            return error, retries, client


async def test_a_clean_stream_yields_reasoning_content_and_usage(serve) -> None:
    url = await serve(reasoning_tokens=30)
    reply, retries, client = await complete(teacher(url))
    assert reply.finish_reason == "stop" and reply.attempts == 1 and not retries
    assert reply.reasoning.startswith("Let me work through this.") and "\\boxed{" in reply.content
    assert reply.usage.reported and reply.usage.reasoning_tokens == client.counters.reasoning_chunks > 0
    assert reply.usage.completion_tokens == client.counters.reasoning_chunks + client.counters.content_chunks


@pytest.mark.parametrize(
    ("fault", "cause"),
    [("500", "http_5xx"), ("drop", "dropped_stream"), ("empty", "empty_body"), ("429", "http_429")],
)
async def test_each_fault_is_retried_and_named(serve, fault: str, cause: str) -> None:
    url = await serve(faults={fault: 1.0}, retry_after_s=0.2)
    error, retries, client = await complete(teacher(url))
    assert isinstance(error, RequestError) and error.cause == cause and error.attempts == 3
    assert retries == [cause, cause]
    assert client.flow.limit < client.flow.maximum  # overload shrinks the concurrency limit


async def test_retry_after_is_honoured_and_cools_down_every_request(serve) -> None:
    url = await serve(faults={"429": 1.0}, retry_after_s=0.4)
    started = time.monotonic()
    error, retries, client = await complete(teacher(url, max_attempts=2))
    assert time.monotonic() - started >= 0.4  # waited the Retry-After, not the 10 ms backoff
    assert error.retry_after == 0.4


async def test_a_stalled_stream_is_dropped_and_retried(serve) -> None:
    url = await serve(faults={"slow": 1.0}, slow_first_byte_s=3.0)
    started = time.monotonic()
    error, retries, _ = await complete(teacher(url, stall_timeout_s=0.3, max_attempts=2))
    assert error.cause == "stalled" and retries == ["stalled"]
    assert time.monotonic() - started < 2.5


async def test_truncation_is_data_and_think_in_content_is_delivered_raw(serve) -> None:
    url = await serve(faults={"length": 1.0})
    reply, retries, _ = await complete(teacher(url))
    assert reply.finish_reason == "length" and reply.content == "" and not retries
    url = await serve(faults={"think_in_content": 1.0})
    reply, _, _ = await complete(teacher(url))
    assert reply.reasoning == "" and reply.content.startswith("<think>\n") and "</think>" in reply.content


async def test_flow_control_shrinks_once_per_second_and_grows_back() -> None:
    now = [100.0]
    flow = FlowControl(teacher("http://x/v1", concurrency=40), clock=lambda: now[0])
    for _ in range(10):  # a burst of failures from one overload counts once
        flow.on_failure("http_429")
    assert flow.limit == 30
    flow.on_failure("http_400")  # not an overload signal
    now[0] += 1.5
    flow.on_failure("stalled")
    assert flow.limit == 22
    for _ in range(22 + 23):
        await flow.on_success()
    assert flow.limit == 24


async def test_rpm_limit_holds_the_third_request_of_the_minute() -> None:
    now = [0.0]
    flow = FlowControl(teacher("http://x/v1", rpm=2), clock=lambda: now[0])
    await flow.before_attempt()
    await flow.before_attempt()
    third = asyncio.create_task(flow.before_attempt())
    await asyncio.sleep(0.05)
    assert not third.done()
    now[0] = 61.0
    await asyncio.wait_for(third, timeout=3)
