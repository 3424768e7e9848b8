"""Batched greedy generation from chat prompts."""

from __future__ import annotations


def generate_replies(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 64, batch_size: int = 64,
                     system_prompt: str | None = None) -> list[str]:
    """Greedy replies (decoded, special tokens dropped) to user `prompts`, rendered by the chat template."""
    import torch

    tokenizer.padding_side = "left"     # generation continues from the right end of every row
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    replies: list[str] = []
    model.eval()
    for start in range(0, len(prompts), batch_size):
        texts = [
            tokenizer.apply_chat_template(
                ([{"role": "system", "content": system_prompt}] if system_prompt else [])
                + [{"role": "user", "content": p}],
                tokenize=False, add_generation_prompt=True,
            )
            for p in prompts[start:start + batch_size]
        ]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            )
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        replies += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return replies
