"""The model split in two: the decoder body runs once per batch, the LM head only on target positions.

    head = LMHead.of(model)                              # weight, bias and the config's output transforms
    hidden = hidden_states(model, input_ids, attention)  # [B, T, H] after the final norm, no logits
    stats = head.statistics(hidden[rows, positions - 1], targets, chunk_size=None, use_compile=False)
    check_head_matches_model(model, head, input_ids)     # refuse models whose logits are something else

The head's statistics are probscope.token_stats.token_statistics (chunked, fp32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from probscope.errors import ProbscopeError
from probscope.token_stats import head_logits, token_statistics

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class LMHead:
    weight: torch.Tensor
    bias: torch.Tensor | None
    logit_scale: float
    softcap: float | None

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    @staticmethod
    def of(model: PreTrainedModel) -> LMHead:
        """The output projection plus the output transforms known in HF configs (Gemma softcap, Cohere
        and Granite scales); anything else is caught by check_head_matches_model."""
        linear = model.get_output_embeddings()
        if not isinstance(linear, torch.nn.Linear):
            raise ProbscopeError(f"{type(model).__name__}: output layer is {type(linear).__name__}, "
                                 "not a linear LM head")
        config = model.config
        scale = (float(getattr(config, "logit_scale", None) or 1.0)
                 / float(getattr(config, "logits_scaling", None) or 1.0))
        return LMHead(linear.weight, linear.bias, scale, getattr(config, "final_logit_softcapping", None))

    def statistics(self, hidden: torch.Tensor, targets: torch.Tensor, chunk_size: int | None,
                   use_compile: bool) -> dict[str, torch.Tensor]:
        return token_statistics(hidden, self.weight, targets, bias=self.bias, chunk_size=chunk_size,
                                logit_scale=self.logit_scale, softcap=self.softcap, compile=use_compile)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The fp32 logits of every vocabulary token at each row of `hidden` [N, H] (N small: [N, vocab] at once)."""
        return head_logits(hidden.to(self.weight.dtype), self.weight, self.bias, self.logit_scale,
                           float(self.softcap or 0.0))


def hidden_states(model: PreTrainedModel, input_ids: torch.Tensor,
                  attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Final hidden states (after the last norm) of the decoder body, without computing any logits."""
    body = model.get_decoder()
    out = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def check_head_matches_model(model: PreTrainedModel, head: LMHead, input_ids: list[int] | None) -> None:
    """Compare our head with the model's own forward on the first positions of one example (`input_ids`,
    at least 2 tokens; None: nothing to check), so a model whose logits go through an unknown transform
    is refused instead of silently misprobed."""
    if input_ids is None:
        return
    device = head.weight.device
    ids = torch.tensor([input_ids[:16]], device=device)
    with torch.inference_mode():
        reference = model(input_ids=ids, use_cache=False).logits[0, :-1].float().log_softmax(-1)
        hidden = hidden_states(model, ids, None)[0, :-1]
        ours = head.statistics(hidden, ids[0, 1:], None, False)["logp"]
    if not bool(torch.isfinite(reference).all()):
        return   # a broken checkpoint: the main pass stops on it, naming the example
    gap = (ours - reference.gather(1, ids[0, 1:, None])[:, 0]).abs().max().item()
    tolerance = 1e-3 if head.weight.dtype == torch.float32 else 0.25
    if not gap <= tolerance:   # also catches NaN
        raise ProbscopeError(f"{type(model).__name__}: its logits are not the LM head applied to the final hidden "
                             f"state (log p differs by {gap:.3g}); this output transform is not supported by the probe")
