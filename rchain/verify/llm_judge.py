"""The optional LLM judge, for the replies the rules could not settle.

Off by default (`[filter.llm_judge]`). The filter stage holds back the replies whose rule verdict
has one of `llm_judge.reasons` (by default parse_timeout, parse_error, ambiguous_answer and
no_gold_answer), asks any OpenAI-compatible endpoint whether the reply's final answer agrees with
the reference solution, through the generate stage's streaming client (retries, back-off,
stall detection included), and records the answer as the verdict: `llm_judge_match` (correct) or
`llm_judge_mismatch` (wrong), flagged `llm_judge` and `rule:<the rule's reason>`. When the judge
cannot be asked or says neither YES nor NO, the rule verdict stands, flagged
`llm_judge_failed`. A reply held back and not yet judged has no verdict line, so a restart asks
again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from rchain.config import GenerationParams, LlmJudgeSection, Teacher

PROMPT = """You check a student's final answer to a math problem against the reference solution.

Problem:
{problem}

Reference solution:
{solution}

End of the student's reply:
{reply}

Does the student's final answer agree with the reference solution's final answer (the same value or
set of values, in any equivalent form)? Reply with one word: YES or NO."""

_DECISION = re.compile(r"\b(YES|NO)\b")
#: Longest piece of each text put into the prompt (the end of a reply holds its answer).
CLIP = 4000


@dataclass(frozen=True)
class Question:
    uid: str
    problem: str
    solution: str
    reply: str


def judge_teacher(section: LlmJudgeSection) -> Teacher:
    """The judge as the generate stage's client sees a teacher: greedy, short replies."""
    return Teacher(
        name="llm-judge",
        model=section.model,
        base_url=section.base_url,
        api_key_env=section.api_key_env,
        concurrency=section.concurrency,
        max_attempts=4,
        stall_timeout_s=120.0,
        timeout_s=600.0,
        generation=GenerationParams(temperature=0.0, top_p=1.0, max_tokens=section.max_tokens),
    )


def decision(content: str) -> bool | None:
    """YES -> True, NO -> False (the last one said wins), anything else -> None."""
    found = _DECISION.findall(content.upper())
    return found[-1] == "YES" if found else None


def prompt(question: Question) -> list[dict[str, str]]:
    text = PROMPT.format(problem=question.problem[:CLIP], solution=question.solution[-CLIP:], reply=question.reply[-CLIP:])
    return [{"role": "user", "content": text}]


async def ask_all(
    section: LlmJudgeSection, api_key: str | None, questions: list[Question], answer: Callable[[Question, bool | None, str], None]
) -> None:
    """Ask about every question, `section.concurrency` at a time; `answer(question, verdict, note)`
    is called as each one is settled (verdict None: not settled, note says why)."""
    import aiohttp

    from rchain.generate.client import RequestError, TeacherClient

    teacher = judge_teacher(section)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        client = TeacherClient(teacher, session, api_key=api_key)
        slots = asyncio.Semaphore(section.concurrency)

        async def one(question: Question) -> None:
            async with slots:
                try:
                    reply = await client.complete(prompt(question))
                except RequestError as error:
                    answer(question, None, f"{error.cause}: {error.detail[:200]}")
                    return
            said = decision(reply.content)
            answer(question, said, "" if said is not None else f"neither YES nor NO: {reply.content[-200:]!r}")

        await asyncio.gather(*(one(q) for q in questions))
