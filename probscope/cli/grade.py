"""`probscope grade`: grade existing generations (any harness's JSONL) and print accuracy, Average@k, pass@k."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("grade")
def add_grade_command(sub) -> None:
    p = sub.add_parser(
        "grade", help="grade generations in a JSONL file against reference answers (math-verify)",
        description="Each row holds a prediction (or a list of k predictions: raw generations or bare answers) "
                    "and a reference answer. Final answers are taken from \\boxed{}, '#### N', 'The answer is', "
                    "else math-verify's own extraction; equivalence is math-verify's.",
    )
    p.add_argument("file", help="JSONL (or JSON/Parquet/CSV) file of generations")
    p.add_argument("--pred-field", required=True, help="field holding the prediction or a list of k predictions")
    p.add_argument("--gold-field", required=True, help="field holding the reference answer (or solution)")
    p.add_argument("--gold-from-solution", action="store_true",
                   help="the gold field is a worked solution: its last \\boxed{} (or '#### N') is the answer")
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds per sample before it counts as wrong "
                                                                 "with reason 'timeout' (default: 5)")
    p.add_argument("--workers", type=int, help="grading processes (default: one per core)")
    p.add_argument("--out", help="also write one row per sample (row, sample, answer, correct, reason) to this JSONL")
    p.set_defaults(func=_grade)


def _grade(args) -> None:
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
    if args.out:
        ensure_writable_file(args.out, "--out")   # before grading, not after it
    rows = read_records(args.file)
    if not rows:
        raise ProbscopeError(f"{args.file}: no rows")
    predictions, golds, owners = [], [], []
    for line, row in enumerate(rows, 1):
        for field in (args.pred_field, args.gold_field):
            if field not in row:
                raise ProbscopeError(f"{args.file}: row {line}: no field {field!r} (fields: {', '.join(map(str, row))})")
        preds = row[args.pred_field]
        preds = preds if isinstance(preds, list) else [preds]
        if not preds:
            raise ProbscopeError(f"{args.file}: row {line}: field {args.pred_field!r} is an empty list")
        gold = gold_from_solution(row[args.gold_field]) if args.gold_from_solution else gold_text(row[args.gold_field])
        if gold is None:   # counting it as a wrong answer would lower every score silently
            raise ProbscopeError(f"{args.file}: row {line}: no reference answer in field {args.gold_field!r} "
                                 f"(found {row[args.gold_field]!r}"
                                 + ("; a solution needs a \\boxed{} or '#### N'" if args.gold_from_solution else "")
                                 + ")")
        predictions += ["" if p is None else str(p) for p in preds]
        golds += [gold] * len(preds)
        owners += [(line, j) for j in range(len(preds))]
    grades = grade_all(predictions, golds, workers=args.workers, time_limit=args.time_limit, progress=True)
    per_row: dict[int, list[bool]] = {}
    for (line, _), grade in zip(owners, grades, strict=False):
        per_row.setdefault(line, []).append(grade.correct)
    k = min(len(flags) for flags in per_row.values())
    most = max(len(flags) for flags in per_row.values())
    summary = summarize(list(per_row.values()), k=k)
    reasons = Counter(g.reason for g in grades if g.reason)
    if args.out:
        write_text_atomic(args.out, "".join(
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
