"""The one place for shared facts: probe-table columns, Figure-2 bin edges, method names/colours, roles.

Everything that reads or writes a probe table imports its column names from here, so renaming a column
or adding one is a change in this file (plus a bump of ``SCHEMA_VERSION``).
"""

from __future__ import annotations

import math

SCHEMA_VERSION = 1

# --- probe-table columns: one row per target token -------------------------------------------------
RUN = "run"                  # run name (directory name under the runs root)
STEP = "step"                # optimizer step of the checkpoint that was probed
EXAMPLE_ID = "example_id"    # stable hash of the source example (same across runs and steps)
POSITION = "position"        # index of the target token in the tokenized sequence
TOKEN_ID = "token_id"        # target token id
TOKEN = "token"              # readable token string (byte-level BPE decoded)
P = "p"                      # probability the model gives the target token
LOGP = "logp"                # log p (natural log), exact even where p underflows
ENTROPY = "entropy"          # entropy (nats) of the next-token distribution at this position
RANK = "rank"                # 1 + number of vocabulary entries with a strictly larger logit
IS_TOP1 = "is_top1"          # rank == 1
SUM_P2 = "sum_p2"            # sum_j p_j^2: per-token logit-gradient norm^2 is 1 - 2p + sum_p2
ROLE = "role"                # role of the token in its example (see ROLES), or null when unknown
METHOD = "method"            # not stored: analysis.load_tokens adds it from the run's manifest

# Column -> polars dtype name; the probe writes exactly these, in this order.
TOKEN_COLUMNS: dict[str, str] = {
    RUN: "String",
    STEP: "Int64",
    EXAMPLE_ID: "String",
    POSITION: "Int32",
    TOKEN_ID: "Int32",
    TOKEN: "String",
    P: "Float64",
    LOGP: "Float64",
    ENTROPY: "Float32",
    RANK: "Int32",
    IS_TOP1: "Boolean",
    SUM_P2: "Float32",
    ROLE: "String",
}


def token_schema():
    """The probe table's polars schema (imported lazily so `probscope --help` stays fast)."""
    import polars as pl

    return pl.Schema({name: getattr(pl, dtype) for name, dtype in TOKEN_COLUMNS.items()})


# --- Figure 2 of the DFT paper ---------------------------------------------------------------------
# Bins are left-closed [lo, hi), the last one closed [0.9, 1.0].
BIN_EDGES: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2) + tuple(round(0.1 * i, 1) for i in range(1, 11))


def bin_label(i: int) -> str:
    """Human label of bin i, e.g. '[1e-4, 1e-3)'."""
    lo, hi = BIN_EDGES[i], BIN_EDGES[i + 1]
    close = "]" if i == len(BIN_EDGES) - 2 else ")"
    return f"[{_fmt_edge(lo)}, {_fmt_edge(hi)}{close}"


def _fmt_edge(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-") if 0 < x < 0.1 else f"{x:g}"


BIN_LABELS: tuple[str, ...] = tuple(bin_label(i) for i in range(len(BIN_EDGES) - 1))
# A colour per bin for token text (the dashboard's example viewer): viridis sampled at the bins, dark for
# the lowest p, yellow for the highest; neither DFT's red nor SFT's blue, so a token never reads as a method.
BIN_COLORS: tuple[str, ...] = ("#440154", "#481f70", "#443983", "#3b528b", "#31688e", "#287c8e", "#21918c",
                               "#20a486", "#35b779", "#5ec962", "#90d743", "#c8e020", "#fde725")
# The change of a token's p between two checkpoints (the example viewer's delta colouring): falls in brown, rises
# in teal, no change near white (ColorBrewer BrBG ends); neither DFT's red nor SFT's blue, nor a bin colour.
DELTA_COLORS: tuple[str, str, str] = ("#8c510a", "#f5f5f5", "#01665e")
# A probe computing in float32 can store p a rounding error above 1; such tokens count in the top bin.
P_ROUNDING_TOLERANCE = 1e-6
INVALID_BIN = -1             # bin_index of a p that is null, NaN or outside [0, 1]


def bin_index(p):
    """Index of the Figure-2 bin holding p, a polars expression -> Int32 expression (INVALID_BIN when p
    is null, NaN or outside [0, 1]). Lazy polars import, like token_schema."""
    import polars as pl

    index = pl.sum_horizontal([(p >= edge) for edge in BIN_EDGES[1:-1]]).cast(pl.Int32)
    valid = p.is_not_null() & p.is_not_nan() & (p >= 0.0) & (p <= 1.0 + P_ROUNDING_TOLERANCE)
    return pl.when(valid).then(index).otherwise(pl.lit(INVALID_BIN, pl.Int32))

# --- methods: the order and colours of bars in every figure ------------------------------------------
# The paper's Figure 2 order first; variants after. Unknown methods get matplotlib's default cycle.
METHOD_ORDER: tuple[str, ...] = ("base", "sft", "dft", "dpo", "grpo", "ppo", "rft", "dft-offline")
METHOD_LABELS: dict[str, str] = {
    "base": "Base", "sft": "SFT", "dft": "DFT", "dpo": "DPO", "grpo": "GRPO", "ppo": "PPO", "rft": "RFT",
    "dft-offline": "DFT (offline)",
}
METHOD_COLORS: dict[str, str] = {
    "base": "#7f7f7f", "sft": "#1f77b4", "dft": "#d62728", "dpo": "#2ca02c",
    "grpo": "#9467bd", "ppo": "#ff7f0e", "rft": "#8c564b", "dft-offline": "#ff9896",
}


# Colours no method owns (the rest of matplotlib's tab10), for methods and objectives outside METHOD_COLORS.
UNOWNED_COLORS: tuple[str, ...] = ("#e377c2", "#bcbd22", "#17becf")
# matplotlib's tab10 as CSS strings: the cycle for series that are not methods (objectives, comparisons).
CYCLE_COLORS: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                 "#7f7f7f", "#bcbd22", "#17becf")
# A method's repeats (seeds, learning rates, steps) run from this much towards black to this much towards white.
SHADE_RANGE = (-0.35, 0.55)


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def method_color(method: str, fallback_index: int = 0) -> str:
    """A method's CSS colour (METHOD_COLORS), else UNOWNED_COLORS[`fallback_index`] (cycling), so an unknown
    method or objective never looks like a known one."""
    return METHOD_COLORS.get(method) or UNOWNED_COLORS[fallback_index % len(UNOWNED_COLORS)]


def series_palette(methods: list[str]) -> list[str]:
    """One CSS colour (#rrggbb) per series, given each series' method in plot order: a method seen once
    keeps its own colour; a method seen k times (seeds, learning rates, steps) gets k shades of it, dark to
    light in order, so every series of a method still reads as that method."""
    unknown = [m for m in dict.fromkeys(methods) if m not in METHOD_COLORS]
    base = {m: method_color(m, unknown.index(m) if m in unknown else 0) for m in methods}
    seen: dict[str, int] = {}
    palette = []
    for method in methods:
        count, index = methods.count(method), seen.get(method, 0)
        seen[method] = index + 1
        low, high = SHADE_RANGE
        palette.append(base[method] if count == 1 else shade(base[method], low + (high - low) * index / (count - 1)))
    return palette


def shade(color: str, amount: float) -> str:
    """`color` (#rrggbb) mixed towards white (amount > 0) or black (amount < 0) by |amount| (0..1)."""
    target = 255 if amount > 0 else 0
    channels = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (target - c) * abs(amount)):02x}" for c in channels)


# --- Figure 2's axes (matplotlib figure and dashboard alike) -----------------------------------------------
FIGURE2_X_LABEL = "Prediction Probability"
FIGURE2_Y_LABEL = "Percentage of Tokens (%)"


def log_axis_floor(smallest_percent: float | None) -> float:
    """The bottom of Figure 2's log y axis (a log axis has no 0, bars rise from its floor): half a decade
    or more below the smallest bar (`smallest_percent`, the smallest non-zero percentage; None: 1%)."""
    return float(10 ** math.floor(math.log10(smallest_percent or 1.0) - 0.5))


# --- token roles ------------------------------------------------------------------------------------
# From the data where it has them (the built-in task: semantic number, operator, answer, fact;
# stylistic connective, punctuation; special = template/EOS), else the token's class
# (analysis/token_classes.py adds whitespace and word).
ROLES: tuple[str, ...] = (
    "number", "operator", "answer", "fact", "connective", "punctuation", "special", "whitespace", "word",
)
STYLISTIC_ROLES: tuple[str, ...] = ("connective", "punctuation")
# No role shares a colour with a method (METHOD_COLORS): a role-coloured bar must not read as a method.
ROLE_COLORS: dict[str, str] = {
    "number": "#17becf", "operator": "#bcbd22", "answer": "#e377c2", "fact": "#1b9e77", "connective": "#e6ab02",
    "punctuation": "#252525", "special": "#c5b0d5", "whitespace": "#dbdb8d", "word": "#9edae5",
}
UNKNOWN_ROLE_COLOR = "#bbbbbb"


def role_color(role: str | None) -> str:
    """A fixed colour per ROLES entry (ROLE_COLORS); grey for unknown roles."""
    return ROLE_COLORS[role] if role in ROLE_COLORS else UNKNOWN_ROLE_COLOR


# --- dynamics table: gradient-weight statistics of the training batch, per logged step -------------------
# Written while training by probscope.training.callbacks.GradientWeightCallback as Parquet parts in
# runs.Run.dynamics_dir; read with probscope.analysis.dynamics.read_dynamics. One row per (logged optimizer step,
# objective): the step-level columns repeat on every objective's row (filter one objective for one row
# per step). Weights: see probscope/objectives.py ("logit view" w: gradient = w x SFT's gradient, SFT 1,
# DFT p; "RL view" w/p: SFT 1/p, DFT 1). STEP (above) is the optimizer step the batch was trained at.
OBJECTIVE = "objective"          # objective the weight columns describe (probscope.training.objectives registry)
N_TOKENS = "n_tokens"            # target tokens in the step's batch (whole accumulation window, all ranks)
P_BIN_COUNTS = "p_bin_counts"    # target tokens per Figure-2 bin, in BIN_LABELS order (sums to n_tokens)
MEAN_ENTROPY = "mean_entropy"    # mean entropy (nats) of the next-token distribution at target positions
SFT_LOSS = "sft_loss"            # mean -log p over the target tokens (also a trainer log key)
DFT_LOSS = "dft_loss"            # mean -p*log p over the target tokens (also a trainer log key)
GRAD_NORM = "grad_norm"          # the trainer's gradient norm at that step (null when the trainer did not log)
LEARNING_RATE = "learning_rate"  # learning rate at that step (null when the trainer did not log)
WEIGHT_MEAN = "weight_mean"      # mean logit-view weight over the target tokens
RL_WEIGHT_MEAN = "rl_weight_mean"  # mean RL-view importance weight w/p
DYNAMICS_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
WEIGHT_QUANTILE = {q: f"weight_q{round(100 * q):02d}" for q in DYNAMICS_QUANTILES}
RL_WEIGHT_QUANTILE = {q: f"rl_weight_q{round(100 * q):02d}" for q in DYNAMICS_QUANTILES}
# Per bin: share of sum_t w_t^2 * |grad_z log p_t|^2 (= 1 - 2p + sum_p2) contributed by the bin's tokens
GRAD_SQ_SHARE = "grad_sq_share"

DYNAMICS_COLUMNS: dict[str, str] = {
    STEP: "Int64",
    OBJECTIVE: "String",
    N_TOKENS: "Int64",
    P_BIN_COUNTS: "List[Int64]",
    MEAN_ENTROPY: "Float64",
    SFT_LOSS: "Float64",
    DFT_LOSS: "Float64",
    GRAD_NORM: "Float64",
    LEARNING_RATE: "Float64",
    WEIGHT_MEAN: "Float64",
    **{name: "Float64" for name in WEIGHT_QUANTILE.values()},
    RL_WEIGHT_MEAN: "Float64",
    **{name: "Float64" for name in RL_WEIGHT_QUANTILE.values()},
    GRAD_SQ_SHARE: "List[Float64]",
}

# Appended: share of replies (sequences) whose dft-sentence weight exp(sum of the reply's log p) is exactly 0
# in the training dtype (float32: sum below about -103), i.e. replies that get no gradient under dft-sentence
# (probscope.training.objectives.sentence_weight_underflow counts them).
SENTENCE_WEIGHT_UNDERFLOW = "sentence_weight_underflow"
# RL runs (probscope.training.rl_callbacks): one row per logged step whose objective is the trainer (dpo,
# grpo, ppo); the token columns describe the tokens the policy trained on (GRPO: sampled completions, DPO: the
# chosen replies), the weight columns are null.
REWARD_MEAN = "reward_mean"      # grpo, ppo: mean verifier reward of the step's sampled completions
REWARD_STD = "reward_std"        # grpo: their standard deviation
KL = "kl"                        # grpo (beta > 0), ppo (kl_coef > 0): mean per-token KL to the reference
REWARD_MARGIN = "reward_margin"  # dpo: mean beta * (chosen - rejected) log-ratio to the reference
DYNAMICS_COLUMNS.update({SENTENCE_WEIGHT_UNDERFLOW: "Float64", REWARD_MEAN: "Float64", REWARD_STD: "Float64",
                         KL: "Float64", REWARD_MARGIN: "Float64"})
# Appended with PPO (issue 21): whether the groups carry signal, the critic's fit, DPO's pairs.
FRAC_REWARD_ZERO_STD = "frac_reward_zero_std"  # grpo, ppo: share of prompt groups whose rewards are all equal
VALUE_LOSS = "value_loss"        # ppo: the value model's clipped loss
REWARD_ACCURACY = "reward_accuracy"  # dpo: share of pairs whose chosen log-ratio beats the rejected one
N_PAIRS = "n_pairs"              # dpo: preference pairs in the training data (steps x batch / n_pairs = epochs)
DYNAMICS_COLUMNS.update({FRAC_REWARD_ZERO_STD: "Float64", VALUE_LOSS: "Float64", REWARD_ACCURACY: "Float64",
                         N_PAIRS: "Int64"})
# Appended for the dashboard's tokens-seen axis: input tokens (prompt and reply; all ranks) the trainer consumed
# from the run's start through this step (transformers' TrainerState.num_input_tokens_seen, which
# GradientWeightCallback switches on, counting non-padding tokens unless the trainer's args ask for all). Null
# when not counted from the start (a resume of a run trained without it; RL trainers' rows).
TOKENS_SEEN = "tokens_seen"
DYNAMICS_COLUMNS.update({TOKENS_SEEN: "Int64"})


def dynamics_schema():
    """The dynamics table's polars schema (lazy import, like token_schema)."""
    import polars as pl

    def dtype(name: str):
        return pl.List(getattr(pl, name[5:-1])) if name.startswith("List[") else getattr(pl, name)

    return pl.Schema({name: dtype(kind) for name, kind in DYNAMICS_COLUMNS.items()})
