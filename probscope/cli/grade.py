"""`probscope grade`: grade existing generations (any harness's JSONL) and print accuracy, Average@k, pass@k."""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.cli.commands import command


@dataclass
class GradeOptions:
    file: str = field(metadata={"help": "JSONL (or JSON/Parquet/CSV) file of generations", "positional": True})
    pred_field: str = field(metadata={"help": "field holding the prediction or a list of k predictions"})
    gold_field: str = field(metadata={"help": "field holding the reference answer (or solution)"})
    gold_from_solution: bool = field(default=False, metadata={
        "help": "the gold field is a worked solution: its last \\boxed{} (or '#### N') is the answer"})
    time_limit: float = field(default=5.0, metadata={
        "help": "seconds per sample before it counts as wrong with reason 'timeout'"})
    workers: int | None = field(default=None, metadata={"help": "grading processes (default: one per core)"})
    out: str | None = field(default=None, metadata={
        "help": "also write one row per sample (row, sample, answer, correct, reason) to this JSONL"})


@command("grade", options=[GradeOptions],
         help="grade generations in a JSONL file against reference answers (math-verify)",
         description="Each row holds a prediction (or a list of k predictions: raw generations or bare answers) "
                     "and a reference answer. Final answers are taken from \\boxed{}, '#### N', 'The answer is', "
                     "else math-verify's own extraction; equivalence is math-verify's.")
def run_grade(opts: GradeOptions) -> None:
    import json
    import time
    from collections import Counter

    from probscope.data import read_records
    from probscope.errors import ProbscopeError
    from probscope.evaluate.grading import REASONS, gold_from_solution, gold_text, grade_all
    from probscope.evaluate.metrics import summarize
    from probscope.runs import write_text_atomic
    from probscope.runs.writable import ensure_writable_file

    start = time.perf_counter()
    if opts.out:
        ensure_writable_file(opts.out, "--out")   # before grading, not after it
    rows = read_records(opts.file)
    if not rows:
        raise ProbscopeError(f"{opts.file}: no rows")
    predictions, golds, owners = [], [], []
    for line, row in enumerate(rows, 1):
        for name in (opts.pred_field, opts.gold_field):
            if name not in row:
                raise ProbscopeError(f"{opts.file}: row {line}: no field {name!r} (fields: {', '.join(map(str, row))})")
        preds = row[opts.pred_field]
        preds = preds if isinstance(preds, list) else [preds]
        if not preds:
            raise ProbscopeError(f"{opts.file}: row {line}: field {opts.pred_field!r} is an empty list")
        gold = gold_from_solution(row[opts.gold_field]) if opts.gold_from_solution else gold_text(row[opts.gold_field])
        if gold is None:   # counting it as a wrong answer would lower every score silently
            raise ProbscopeError(f"{opts.file}: row {line}: no reference answer in field {opts.gold_field!r} "
                                 f"(found {row[opts.gold_field]!r}"
                                 + ("; a solution needs a \\boxed{} or '#### N'" if opts.gold_from_solution else "")
                                 + ")")
        predictions += ["" if p is None else str(p) for p in preds]
        golds += [gold] * len(preds)
        owners += [(line, j) for j in range(len(preds))]
    grades = grade_all(predictions, golds, workers=opts.workers, time_limit=opts.time_limit, progress=True)
    per_row: dict[int, list[bool]] = {}
    for (line, _), grade in zip(owners, grades, strict=False):
        per_row.setdefault(line, []).append(grade.correct)
    k = min(len(flags) for flags in per_row.values())
    most = max(len(flags) for flags in per_row.values())
    summary = summarize(list(per_row.values()), k=k)
    reasons = Counter(g.reason for g in grades if g.reason)
    if opts.out:
        write_text_atomic(opts.out, "".join(
            json.dumps({"row": line, "sample": j, "answer": g.answer, "gold": gold, "correct": g.correct,
                        "reason": g.reason}) + "\n"
            for (line, j), g, gold in zip(owners, grades, golds, strict=False)))
    accuracy = sum(g.correct for g in grades) / len(grades)
    print(f"{len(per_row)} problems, {len(grades)} samples (k={k}) graded in {time.perf_counter() - start:.1f} s")
    if most != k:
        short = sum(len(flags) < most for flags in per_row.values())
        print(f"note: rows hold {k} to {most} predictions ({short} rows fewer than {most}): Average@{k} averages "
              f"each row's own predictions, pass@{k} is estimated from all of them")
    print(f"accuracy (all samples): {accuracy:.4f}")
    print(f"Average@{k}: {summary['average_at_k']:.4f}  95% CI [{summary['average_at_k_lo']:.4f}, "
          f"{summary['average_at_k_hi']:.4f}]")
    print(f"pass@{k}:    {summary['pass_at_k']:.4f}  95% CI [{summary['pass_at_k_lo']:.4f}, "
          f"{summary['pass_at_k_hi']:.4f}]")
    print("wrong: " + (", ".join(f"{reasons.get(r, 0)} {r}" for r in REASONS)))
