"""Request and record format, exactly as the seed does it (with its `\\b` bug fixed)."""

from __future__ import annotations

import msgspec

from rchain.config import PromptSection
from rchain.generate.client import Reply
from rchain.records import TokenUsage
from rchain.generate.replies import SplitReply, assistant_text, request_messages, split_reply, user_prompt
from rchain.generate.runner import build_record, reply_uid
from rchain.generate.sse import SSEParser
from rchain.problems import Problem


def test_user_prompt_has_a_literal_backslash_and_no_system_prompt_is_sent() -> None:
    prompt = PromptSection()
    text = user_prompt("What is $1+1$?", prompt)
    assert text == "What is $1+1$?\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert "\b" not in text and "\\boxed{}" in text
    assert request_messages("Q", prompt) == [{"role": "user", "content": user_prompt("Q", prompt)}]
    sent = request_messages("Q", PromptSection(send_system=True))
    assert [m["role"] for m in sent] == ["system", "user"]


def test_assistant_text_is_the_seed_format() -> None:
    assert assistant_text("r", "c") == "<think>r</think>\n\n<answer>c</answer>"


def test_split_reply_handles_every_way_teachers_deliver_reasoning() -> None:
    # reasoning_content present: taken as is.
    assert split_reply("think", "answer") == SplitReply("think", "answer", False)
    # vLLM without a reasoning parser: everything in content.
    s = split_reply("", "<think>\nstep one\n</think>\n\nThe answer is $\\boxed{2}$.")
    assert (s.reasoning, s.content, s.think_in_content) == ("step one", "The answer is $\\boxed{2}$.", True)
    # R1-distill templates open <think> in the prompt: only the closing tag is generated.
    s = split_reply("", "step one\n</think>\n\nSo $\\boxed{2}$")
    assert (s.reasoning, s.content) == ("step one", "So $\\boxed{2}$")
    # Truncated inside the think block.
    s = split_reply("", "<think>\nstill thinking")
    assert (s.reasoning, s.content, s.think_in_content) == ("still thinking", "", True)
    # No reasoning at all: kept as content (the record is flagged empty_reasoning).
    assert split_reply("", "Just $\\boxed{2}$") == SplitReply("", "Just $\\boxed{2}$", False)


def test_record_keeps_every_field_and_flags_empty_and_truncated_replies() -> None:
    from rchain.config import PipelineConfig

    config = PipelineConfig.model_validate(
        {"run": {"name": "x"}, "teachers": [{"name": "MathR", "model": "deepseek-reasoner", "base_url": "http://h/v1"}]}
    )
    teacher = config.teachers[0]
    problem = Problem("abc123", "cn_k12", "Find $x$.", "So $x=\\boxed{3}$.")
    reply = Reply("", "<think>\nx is 3\n</think>\n\n", "length", TokenUsage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=0, cache_hit_tokens=4), 1.23456, 0.1, attempts=3)
    record = build_record(config, teacher, problem, 2, reply)
    data = msgspec.to_builtins(record)
    assert data["uid"] == reply_uid("abc123", "MathR", 2) == "abc123:MathR:2"
    assert data["messages"] == [
        {"role": "system", "content": config.prompt.system},
        {"role": "user", "content": "Find $x$.\nPlease reason step by step, and put your final answer within \\boxed{}."},
        {"role": "assistant", "content": "<think>x is 3</think>\n\n<answer></answer>"},
    ]
    assert data["flags"] == ["think_in_content", "empty_content", "truncated"]
    assert data["usage"] == {"prompt_tokens": 10, "completion_tokens": 20, "reasoning_tokens": 0, "cache_hit_tokens": 4, "reported": True}
    assert (data["finish_reason"], data["attempts"], data["latency_s"], data["sample_index"]) == ("length", 3, 1.235, 2)
    assert data["generation"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 32768}
    assert (data["teacher"], data["model"], data["source"], data["solution"]) == ("MathR", "deepseek-reasoner", "cn_k12", problem.solution)


def test_sse_parser_reassembles_events_split_across_network_blocks() -> None:
    stream = b': keep-alive\n\ndata: {"a":1}\n\ndata: {"b":2}\r\n\r\ndata: [DONE]\n\n'
    for cut in range(1, len(stream)):
        parser = SSEParser()
        payloads = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert payloads == [b'{"a":1}', b'{"b":2}', b"[DONE]"], cut
