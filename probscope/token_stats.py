"""Per-token statistics of next-token distributions, without materializing [tokens, vocab] at once.

    from probscope.token_stats import token_statistics, logit_statistics
    stats = token_statistics(hidden, lm_head.weight, targets)   # hidden [N, H] at the predicting positions
    stats = logit_statistics(logits, targets, mask)             # logits a model already returned, [..., V]
    stats["p"], stats["logp"], stats["entropy"], stats["rank"], stats["is_top1"], stats["sum_p2"]

The one place where these statistics are computed: the probe (token_statistics, from hidden states)
and training (logit_statistics, from a forward's logits) share the reduction `_reduce`. Logits are
taken a fixed number of tokens at a time (`chunk_size`); each [chunk, vocab] block is reduced in fp32
to four numbers per token and then freed. token_statistics compiles its block function with
`torch.compile` (fixed chunk shape, so it compiles once per model) when the job is large enough to
repay the compile, eager otherwise. Ranks count the logits strictly greater than the target's (no
sort), so ties rank the target first.
"""

from __future__ import annotations

import functools
import logging

import torch

# Elements of one [chunk, vocab] fp32 block. On CPU 2**23 (32 MiB; 32 tokens at vocab 151,936) was
# fastest among 8..256 tokens with `probscope-bench probe`: smaller blocks re-read the weight too often,
# larger ones fall out of cache between passes. A GPU wants larger blocks to fill its cores.
CHUNK_ELEMENTS = {"cpu": 2**23, "cuda": 2**26}
# Compiling costs ~5 s with a warm inductor cache and ~20 s cold on 2 CPU cores and saves ~5-7 ns per
# logit (`probscope-bench probe`); below this many logits (tokens x vocab) eager is faster overall.
COMPILE_MIN_ELEMENTS = 2 * 10**9
logger = logging.getLogger(__name__)


def default_chunk_size(vocab_size: int, device_type: str = "cpu") -> int:
    """Tokens per LM-head block: a power of two near CHUNK_ELEMENTS / vocab, between 8 and 4096."""
    elements = CHUNK_ELEMENTS.get(device_type, CHUNK_ELEMENTS["cpu"])
    return max(8, min(4096, 1 << max(0, (elements // vocab_size).bit_length() - 1)))


def _reduce(z, targets):
    """logp, entropy, rank, sum_p2 of the targets from one fp32 [chunk, vocab] block of logits `z`
    (which it overwrites).

    Two passes over the block: the row max, then one pass for every sum. With e = exp(z - max) and
    s = sum(e): log p = z_t - max - log s, entropy = log s - sum(e (z - max)) / s, sum_p2 = sum(e^2) / s^2;
    none of the sums needs s first, so a compiler fuses them into one loop. In-place updates and a
    norm for sum(e^2) keep eager mode at two [chunk, vocab] fp32 buffers.
    """
    z_target = z.gather(1, targets[:, None])
    rank = (z > z_target).sum(1) + 1
    row_max = z.amax(1, keepdim=True)
    shifted = z.sub_(row_max)              # <= 0, so exp never overflows
    e = shifted.exp()
    total = e.sum(1)
    squares = torch.linalg.vector_norm(e, dim=1) ** 2
    weighted = e.mul_(shifted).sum(1)
    log_total = total.log()
    logp = (z_target - row_max)[:, 0] - log_total
    entropy = log_total - weighted / total
    sum_p2 = squares / (total * total)
    return logp, entropy, rank, sum_p2


def head_logits(hidden, weight, bias, logit_scale: float, softcap: float):
    """The fp32 logits softcap(scale * (hidden @ W.T + bias)) of a block of hidden states (softcap 0: none)."""
    z = torch.nn.functional.linear(hidden, weight, bias).float()
    if logit_scale != 1.0:
        z = z * logit_scale
    if softcap > 0.0:
        z = torch.tanh(z / softcap) * softcap
    return z


def _chunk_stats(hidden, weight, bias, targets, logit_scale: float, softcap: float):
    """_reduce of the logits (head_logits) of one block of tokens."""
    return _reduce(head_logits(hidden, weight, bias, logit_scale, softcap), targets)


@functools.cache
def _compiled_chunk_stats():
    return torch.compile(_chunk_stats, dynamic=False)


def token_statistics(
    hidden: torch.Tensor,
    lm_head_weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    chunk_size: int | None = None,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    compile: bool | str = "auto",
) -> dict[str, torch.Tensor]:
    """Statistics of each target token under softmax(softcap(scale * (hidden @ W.T + bias))).

    hidden: [N, H] final hidden states of the positions that predict the targets; targets: [N] ids.
    Returns tensors of shape [N] on hidden's device: p and logp (float32, natural log), entropy
    (float32, nats), rank (int64, 1 = argmax), is_top1 (bool), sum_p2 (float32, sum_j p_j^2).
    The matmul runs in the weight's dtype (as the model's own forward does); everything after it in fp32.
    compile: True, False, or "auto" (compile when N x vocab >= COMPILE_MIN_ELEMENTS).
    """
    n, vocab = hidden.shape[0], lm_head_weight.shape[0]
    chunk = chunk_size or default_chunk_size(vocab, hidden.device.type)
    use_compile = n * vocab >= COMPILE_MIN_ELEMENTS if compile == "auto" else bool(compile)
    hidden = hidden.to(lm_head_weight.dtype)
    targets = targets.to(hidden.device, torch.long)
    outputs = []
    for start in range(0, n, chunk):
        h, t = hidden[start:start + chunk], targets[start:start + chunk]
        rows = h.shape[0]
        if use_compile and rows < chunk:   # pad the last block so the compiled graph keeps one shape
            h = torch.cat([h, h.new_zeros(chunk - rows, h.shape[1])])
            t = torch.cat([t, t.new_zeros(chunk - rows)])
        args = (h, lm_head_weight, bias, t, float(logit_scale), float(softcap or 0.0))
        if use_compile:
            try:
                block = _compiled_chunk_stats()(*args)
            except torch.OutOfMemoryError:
                raise
            except Exception as e:   # no C++ compiler / unsupported backend: eager gives the same numbers
                logger.warning(f"torch.compile unavailable ({type(e).__name__}: {str(e).splitlines()[0]}); "
                               "using eager statistics")
                use_compile = False
                block = _chunk_stats(*args)
        else:
            block = _chunk_stats(*args)
        outputs.append([x[:rows] for x in block])
    return _as_dict(outputs, hidden.device)


@torch.no_grad()   # statistics, never differentiated: _reduce works in place
def logit_statistics(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    chunk_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Statistics of each target token under softmax(logits), for logits a model already computed.

    logits: [..., V]; targets: [...] ids (any value where `mask` is False); mask: [...] bool, the
    positions to compute (default: all). Returns the same dict as token_statistics, 1-D over the
    selected positions in row-major order (the order of logits[mask]). Blocks of `chunk_size`
    positions are gathered and reduced one at a time, so memory stays at a few [chunk, V] fp32 blocks
    whatever the number of positions; `logits` itself is never modified.
    """
    selected = torch.ones(targets.shape, dtype=torch.bool, device=logits.device) if mask is None else mask
    index = selected.nonzero(as_tuple=True)
    n, vocab = index[0].numel(), logits.shape[-1]
    chunk = chunk_size or default_chunk_size(vocab, logits.device.type)
    outputs = []
    for start in range(0, n, chunk):
        block = tuple(i[start:start + chunk] for i in index)
        # advanced indexing copies, so _reduce's in-place updates never reach the caller's logits
        outputs.append(_reduce(logits[block].float(), targets[block].long()))
    return _as_dict(outputs, logits.device)


def _as_dict(outputs: list, device) -> dict[str, torch.Tensor]:
    """Blocks of (logp, entropy, rank, sum_p2) joined into the statistics dict (empty tensors for no blocks)."""
    if not outputs:
        empty = torch.zeros(0, dtype=torch.float32, device=device)
        outputs = [[empty, empty, empty.long(), empty]]
    logp, entropy, rank, sum_p2 = (torch.cat(parts) for parts in zip(*outputs, strict=False))
    return {
        "p": logp.exp(),
        "logp": logp,
        "entropy": entropy,
        "rank": rank,
        "is_top1": rank == 1,
        "sum_p2": sum_p2,
    }
