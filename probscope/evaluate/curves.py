"""Benchmark accuracy over training steps: per-checkpoint summaries -> curve tables (Figure 1's data).

    import probscope as ps
    evals = ps.load_evals("runs")                      # one row per run x evaluation x step (all summary fields)
    curves = ps.accuracy_curves(evals)                 # run, method, benchmark, step, metric, value, lo, hi, source
    ps.problem_results("runs", "sft", 100, "math500")  # one row per problem: samples, correct, accuracy, gold
    theirs = ps.load_lm_eval_results("lm_eval_out/", run="sft", method="sft")   # lm-evaluation-harness files
    ps.plot_accuracy_curves(ps.accuracy_curves(evals, lm_eval=theirs))

lm-evaluation-harness writes one results_<time>.json per evaluated model; each becomes rows of the same
curve table (one per task and metric), its step read from the model path (step-N, checkpoint-N) unless given,
its interval value ± 1.96 standard errors.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from probscope import runs, schema
from probscope.checks import check_count
from probscope.errors import ProbscopeError, first_line

logger = logging.getLogger(__name__)

BENCHMARK, METRIC, VALUE, LO, HI, SOURCE, K = "benchmark", "metric", "value", "lo", "hi", "source", "k"
EVAL_NAME = "eval"
METRICS = {"average_at_k": "Average@{k}", "pass_at_k": "pass@{k}"}
CURVE_SCHEMA = pl.Schema({schema.RUN: pl.String, schema.METHOD: pl.String, BENCHMARK: pl.String, schema.STEP: pl.Int64,
                          METRIC: pl.String, VALUE: pl.Float64, LO: pl.Float64, HI: pl.Float64, SOURCE: pl.String})
UNKNOWN_METHOD = "unknown"
_Z95 = 1.959964   # normal quantile for lm-eval's standard errors
_STEP_IN_PATH = re.compile(r"(?:step|checkpoint|ckpt|global_step)[-_]?(\d+)", re.IGNORECASE)


def _warn_unknown(what: str, asked: Sequence[str] | None, present: list[str], runs_root) -> None:
    """A name asked for that is nowhere is said in one line (a warning, not an error: an evaluation not made
    yet is a normal state for callers that poll), so an empty table is never silent."""
    if isinstance(asked, str):
        raise ProbscopeError(f"{what} names: pass a list, not the string {asked!r}")
    unknown = [name for name in asked or () if name not in present]
    if unknown:
        logger.warning("%s: no %s named %s (%ss: %s)", runs_root, what, ", ".join(map(str, unknown)), what,
                       ", ".join(present) or "none")


def load_evals(runs_root: str | os.PathLike, *, runs_filter: Sequence[str] | None = None,
               names: Sequence[str] | None = None) -> pl.DataFrame:
    """Every finished evaluation under `runs_root` as one row per (run, evaluation, step), with its summary.
    A run whose manifest or an evaluation whose summary cannot be read is skipped with a warning naming the
    file: one bad file does not hide the other runs."""
    rows = []
    chosen = runs.discover_runs(runs_root)
    _warn_unknown("run", runs_filter, [run.name for run in chosen], runs_root)
    if names:
        _warn_unknown("evaluation", names, sorted({name for run in chosen for name in run.eval_names()}), runs_root)
    for run in chosen:
        if runs_filter and run.name not in runs_filter:
            continue
        try:
            method = run.read_manifest().method
        except ProbscopeError as e:
            logger.warning("skipping run %s: %s", run.name, first_line(e))
            continue
        for name in run.eval_names():
            if names and name not in names:
                continue
            for step in run.evaluated_steps(name):
                summary = _read_summary(run.eval_dir(step, name) / runs.EVAL_DONE)
                if summary is None:
                    continue
                settings = summary.pop("settings", {})
                settings = settings if isinstance(settings, dict) else {}
                rows.append({**{k: v for k, v in summary.items() if not isinstance(v, (dict, list))},
                             schema.RUN: run.name, schema.METHOD: method, EVAL_NAME: name, schema.STEP: step,
                             "temperature": settings.get("temperature"), "top_p": settings.get("top_p"),
                             "max_new_tokens": settings.get("max_new_tokens")})
    if not rows:
        return pl.DataFrame(schema={schema.RUN: pl.String, schema.METHOD: pl.String, EVAL_NAME: pl.String,
                                    BENCHMARK: pl.String, schema.STEP: pl.Int64, K: pl.Int64})
    return pl.DataFrame(rows, infer_schema_length=None).sort(EVAL_NAME, schema.RUN, schema.STEP)


def _read_summary(path: Path) -> dict | None:
    """An evaluation's summary, or None (with a warning naming the file) when it cannot be read."""
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        problem = f"line {e.lineno}: invalid JSON ({e.msg})"
    except (OSError, UnicodeDecodeError) as e:
        problem = f"unreadable ({type(e).__name__}: {first_line(e)})"
    else:
        if isinstance(summary, dict):
            return summary
        problem = f"a summary is a JSON object, found {type(summary).__name__}"
    logger.warning("skipping %s: %s; delete it and rerun `probscope eval`", path, problem)
    return None


def problem_results(runs_root: str | os.PathLike, run: str, step: int, name: str) -> pl.DataFrame:
    """One row per problem of the finished evaluation `name` of `run` at `step`, in the benchmark's order:
    problem_id, samples, correct (how many of them), accuracy (correct / samples), gold."""
    from probscope.evaluate.engine import CORRECT, GOLD, PROBLEM_ID, read_samples

    check_count("step", step, minimum=0)
    eval_dir = runs.Run.named(runs_root, run).eval_dir(step, runs.check_folder_name(name, "evaluation"))
    if not (eval_dir / runs.EVAL_DONE).is_file():
        raise ProbscopeError(f"{eval_dir}: no finished evaluation '{name}' of {run} at step {step}; "
                             "finish it with `probscope eval`")
    return (read_samples(eval_dir).group_by(PROBLEM_ID, maintain_order=True)
            .agg(pl.len().cast(pl.Int64).alias("samples"), pl.col(CORRECT).sum().cast(pl.Int64).alias("correct"),
                 pl.col(CORRECT).mean().alias("accuracy"), pl.col(GOLD).first().alias(GOLD)))


def accuracy_curves(evals: pl.DataFrame, *, metric: str = "average_at_k",
                    lm_eval: pl.DataFrame | None = None) -> pl.DataFrame:
    """Long table (CURVE_SCHEMA) of `metric` ("average_at_k" or "pass_at_k") per run, evaluation and step,
    plus any rows of `lm_eval` (from load_lm_eval_results). `benchmark` holds the evaluation's name."""
    if metric not in METRICS:
        raise ProbscopeError(f"metric {metric!r}: choose {' or '.join(METRICS)}")
    parts = []
    if not evals.is_empty():
        parts.append(evals.select(
            pl.col(schema.RUN), pl.col(schema.METHOD), pl.col(EVAL_NAME).alias(BENCHMARK),
            pl.col(schema.STEP).cast(pl.Int64),
            pl.format(METRICS[metric].replace("{k}", "{}"), pl.col(K)).alias(METRIC),
            pl.col(metric).alias(VALUE), pl.col(f"{metric}_lo").alias(LO), pl.col(f"{metric}_hi").alias(HI),
            pl.lit("probscope").alias(SOURCE),
        ).cast(CURVE_SCHEMA))
    if lm_eval is not None and not lm_eval.is_empty():
        parts.append(lm_eval.select(list(CURVE_SCHEMA)).cast(CURVE_SCHEMA))
    if not parts:
        return pl.DataFrame(schema=CURVE_SCHEMA)
    return pl.concat(parts).sort(BENCHMARK, schema.METHOD, schema.RUN, METRIC, schema.STEP)


def load_lm_eval_results(paths: str | os.PathLike | Sequence[str | os.PathLike], *, run: str | None = None,
                         method: str | None = None, step: int | None = None) -> pl.DataFrame:
    """lm-evaluation-harness results_*.json files (a file, a directory searched recursively, or a list) as
    curve rows. run/method/step default to what the model path says (…/<run>/checkpoints/step-N)."""
    check_count("step", step, minimum=0, optional=True)
    files = _result_files(paths)
    rows = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as e:
            raise ProbscopeError(f"{file}: line {e.lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
            raise ProbscopeError(f"{file}: not an lm-evaluation-harness results file (no 'results' object)")
        model = _model_path(data)
        file_step = step if step is not None else _step_from(model, file)
        if file_step is None:
            raise ProbscopeError(f"{file}: cannot tell the checkpoint's step from the model path {model!r}; "
                                 "pass step=")
        file_run = run or _run_from(model) or Path(model or file.parent.name).name
        for task, metrics in data["results"].items():
            for key, value in metrics.items():
                name, _, filt = key.partition(",")
                if name.endswith("_stderr") or name == "alias" or not isinstance(value, (int, float)):
                    continue
                stderr = metrics.get(f"{name}_stderr,{filt}" if filt else f"{name}_stderr")
                se = stderr if isinstance(stderr, (int, float)) else None
                rows.append({schema.RUN: file_run, schema.METHOD: method or UNKNOWN_METHOD, BENCHMARK: task,
                             schema.STEP: file_step, METRIC: f"lm-eval {key}", VALUE: float(value),
                             LO: value - _Z95 * se if se is not None else None,
                             HI: value + _Z95 * se if se is not None else None, SOURCE: "lm-eval"})
    return pl.DataFrame(rows, schema=CURVE_SCHEMA)


def _result_files(paths) -> list[Path]:
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.rglob("results*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise ProbscopeError(f"{path}: no such file or directory")
    if not files:
        raise ProbscopeError(f"{', '.join(map(str, paths))}: no lm-evaluation-harness results_*.json files")
    return files


def _model_path(data: dict) -> str | None:
    config = data.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, dict):
        return args.get("pretrained") or args.get("model")
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() in ("pretrained", "model", "path"):
                return value.strip()
    return data.get("model_name") or config.get("model_name")


def _step_from(model: str | None, file: Path) -> int | None:
    for text in (model or "", str(file.parent)):
        found = _STEP_IN_PATH.findall(text)
        if found:
            return int(found[-1])
    return None


def _run_from(model: str | None) -> str | None:
    """<run>/checkpoints/step-N -> run."""
    if not model:
        return None
    parts = Path(model).parts
    if len(parts) >= 3 and parts[-2] == runs.CHECKPOINTS:
        return parts[-3]
    return None
