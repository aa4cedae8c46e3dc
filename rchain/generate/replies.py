"""Requests and stored records, exactly as the seed formats them (with its `\\b` bug fixed).

User prompt: the problem, a newline, then the instruction (a literal backslash before "boxed").
Stored assistant turn: `<think>{reasoning}</think>\\n\\n<answer>{content}</answer>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rchain.config import PromptSection

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def user_prompt(problem: str, prompt: PromptSection) -> str:
    return f"{problem}\n{prompt.instruction}"


def request_messages(problem: str, prompt: PromptSection) -> list[dict[str, str]]:
    """What is sent to the teacher: the system prompt only when configured (the seed does not)."""
    messages = [{"role": "system", "content": prompt.system}] if prompt.send_system else []
    messages.append({"role": "user", "content": user_prompt(problem, prompt)})
    return messages


def assistant_text(reasoning: str, content: str) -> str:
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}\n\n<answer>{content}</answer>"


@dataclass(frozen=True)
class SplitReply:
    reasoning: str
    content: str
    #: The teacher put its reasoning inside `content` (vLLM without a reasoning parser, many
    #: R1-distill servers) and it was split out.
    think_in_content: bool


def split_reply(reasoning: str, content: str) -> SplitReply:
    """Reasoning and answer of a reply, whichever way the server delivered them.

    R1-distill chat templates open `<think>` in the prompt, so the model's text often starts
    inside the think block and only the closing tag appears.
    """
    if reasoning or (THINK_CLOSE not in content and not content.lstrip().startswith(THINK_OPEN)):
        return SplitReply(reasoning, content, False)
    body = content.lstrip()
    if body.startswith(THINK_OPEN):
        body = body[len(THINK_OPEN):]
    if THINK_CLOSE in body:
        thought, _, answer = body.partition(THINK_CLOSE)
        return SplitReply(thought.strip(), answer.strip(), True)
    # An opened think block that never closed: all reasoning, no answer (usually truncated).
    return SplitReply(body.strip(), "", True)
