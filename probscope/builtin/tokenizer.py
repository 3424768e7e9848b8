"""The built-in task's tokenizer: word-level, every digit its own token, trained locally (no hub).

Its chat template marks the assistant reply with ``{% generation %}`` so that
``apply_chat_template(..., return_assistant_tokens_mask=True)`` works too; probscope itself finds the
reply by rendering the prompt and the full conversation (probscope/datasets.py).
"""

from __future__ import annotations

from pathlib import Path

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"
ROLE_TOKENS = {"system": "<system>", "user": "<user>", "assistant": "<assistant>"}

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<assistant> {% generation %}{{ message['content'] }} {{ eos_token }}{% endgeneration %}"
    "{% else %}"
    "<{{ message['role'] }}> {{ message['content'] }} "
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def render_chat(prompt: str, completion: str) -> str:
    """What CHAT_TEMPLATE renders for one user turn + one assistant reply (checked in the tests)."""
    return f"{BOS}<user> {prompt} <assistant> {completion} {EOS}"


def build_tokenizer(texts: list[str], out_dir: str | Path):
    """Train a WordLevel tokenizer on `texts`, wrap it as PreTrainedTokenizerFast, save it to `out_dir`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, UNK, BOS, EOS, *ROLE_TOKENS.values()]
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1))
    # registered as special so "<user>" is one token, not "<", "user", ">"
    tok.add_special_tokens(specials)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS.values()), model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast
