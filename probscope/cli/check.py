"""`probscope check RUNS_DIR`: report what is missing, stale, half-written or corrupt, with the fix for each."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("check")
def add_check_command(sub) -> None:
    p = sub.add_parser("check", help="validate a runs directory: what is missing, stale, half-written or corrupt")
    p.add_argument("runs", nargs="?", default="runs", help="runs directory (default: %(default)s)")
    p.set_defaults(func=run_check)


def run_check(args) -> int:
    from collections import Counter

    from probscope.integrity import check_runs

    findings = check_runs(args.runs)
    for finding in findings:
        print(finding.line())
    counts = Counter(f.kind for f in findings)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing to repair"
    print(f"probscope check: {args.runs}: {summary}")
    return 1 if findings else 0
