"""`probscope check RUNS_DIR`: report what is missing, stale, half-written or corrupt, with the fix for each."""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.cli.commands import command


@dataclass
class CheckOptions:
    runs: str = field(default="runs", metadata={"help": "runs directory", "positional": True})


@command("check", help="validate a runs directory: what is missing, stale, half-written or corrupt",
         options=[CheckOptions])
def run_check(opts: CheckOptions) -> int:
    from collections import Counter

    from probscope.integrity import check_runs

    findings = check_runs(opts.runs)
    for finding in findings:
        print(finding.line())
    counts = Counter(f.kind for f in findings)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing to repair"
    print(f"probscope check: {opts.runs}: {summary}")
    return 1 if findings else 0
