"""A tiny Qwen2-architecture chat model, built offline in a few seconds.

The demo and the tests train, serve and evaluate a real model on a CPU with no network. This
builds one from nothing: a byte-level BPE tokenizer trained on synthetic math text (with the
Qwen2.5 special tokens), a chat template in Qwen's ChatML shape (written here, not copied), and a
Qwen2ForCausalLM with random weights small enough to train in seconds. ms-swift loads it with
`--model_type qwen2 --template qwen2_5`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

#: Token ids 0, 1, 2, as in Qwen2.5.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
DEFAULT_SYSTEM = "You are a helpful assistant."
#: Swift arguments that a local directory of this model needs (a hub id needs none).
SWIFT_ARGS = {"model_type": "qwen2", "template": "qwen2_5"}

# ChatML: every turn is `<|im_start|>role\n...<|im_end|>\n`; a conversation without a system turn
# gets a default one; the generation prompt opens an assistant turn. `<|im_end|>` is the EOS.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "the answer is find compute let so we have then therefore solve equation value sum product "
    "number integer fraction area triangle circle probability problem step reason think check "
    "because since total each more less than equal prime divisor remainder root square cube "
    "Please reason step by step, and put your final answer within"
).split()
_LATEX = ("\\boxed{", "\\frac{", "\\sqrt{", "\\cdot", "\\pi", "\\le", "\\ge", "^2", "}", "{", "$", "(", ")", "=", "+", "-")


def _corpus(rng: random.Random, lines: int) -> list[str]:
    out = []
    for _ in range(lines):
        parts = []
        for _ in range(rng.randint(4, 16)):
            roll = rng.random()
            if roll < 0.5:
                parts.append(rng.choice(_WORDS))
            elif roll < 0.8:
                parts.append(str(rng.randint(0, 999)))
            else:
                parts.append(rng.choice(_LATEX))
        out.append(" ".join(parts))
    out += ["<think>", "</think>", "<answer>", "</answer>", "user", "assistant", "system"]
    return out


def build_tiny_model(
    directory: Path,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write tokenizer, chat template, config and random weights into `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 24,  # room for the special tokens within the model's embedding
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(rng, 6000), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"]
    )
    model.save_pretrained(directory)
    (directory / "README.md").write_text(
        "A tiny random-weight Qwen2 model built offline by rchain for tests and the demo.\n"
        + json.dumps({"parameters": sum(p.numel() for p in model.parameters())}) + "\n",
        encoding="utf-8",
    )
    return directory
