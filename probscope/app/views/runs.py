"""Runs: what each run is (manifest, hyper-parameters), what it holds (checkpoints, probes, evaluations),
and what is missing, half-written or corrupt, with the command that fixes it."""

import json

import polars as pl
import streamlit as st

from probscope import schema
from probscope.app import state
from probscope.app.ui import problem, show_table
from probscope.errors import ProbscopeError, first_line
from probscope.integrity import check_runs
from probscope.runs import discover_runs

st.title("Runs")
runs_root = state.runs_root()
if runs_root is None:
    st.info(st.session_state.get("missing"))
    st.stop()
st.caption(f"{runs_root}: each run directory holds manifest.json, checkpoints/step-N/, probes/<dataset>/step-N/ "
           "and evals/<name>/step-N/.")


def flat(config: dict, prefix: str = "") -> dict[str, str]:
    """A nested training config as dotted keys -> readable values."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


rows: list[dict[str, object]] = []
configs = {}
for run in discover_runs(runs_root):
    try:
        manifest = run.read_manifest()
    except ProbscopeError as e:
        rows.append({"Run": run.name, "Method": "?", "Status": f"unreadable manifest: {first_line(e)}"})
        continue
    configs[run.name] = flat(manifest.config)
    rows.append({
        "Run": run.name, "Method": schema.method_label(manifest.method), "Status": manifest.status,
        "Checkpoint steps": ", ".join(map(str, run.checkpoint_steps())) or "none",
        "Probed": "; ".join(f"{d}: {', '.join(map(str, run.probed_steps(d))) or 'none'}"
                            for d in run.probe_datasets()) or "nothing",
        "Evaluated": "; ".join(f"{n}: {', '.join(map(str, run.evaluated_steps(n))) or 'none'}"
                               for n in run.eval_names()) or "nothing",
        "Base model": manifest.base_model or "", "Data": manifest.data or "", "Seed": manifest.seed,
        "Code": manifest.code_version,
    })
st.subheader("Manifests and contents")
st.dataframe(pl.DataFrame(rows, infer_schema_length=None), hide_index=True, placeholder="–",
             column_config={"Run": st.column_config.Column(pinned=True)})

st.subheader("Hyper-parameters")
if not any(configs.values()):
    st.info("No manifest holds a training config (runs added with `probscope add-run` or built by hand).")
else:
    keys = sorted({key for config in configs.values() for key in config})
    differing = st.toggle("Only the settings that differ between runs", value=True, key="differing")
    table = pl.DataFrame([{"Setting": key, **{name: config.get(key, "") for name, config in configs.items()}}
                          for key in keys])
    if differing and len(configs) > 1:
        table = table.filter(pl.concat_list(list(configs)).list.unique().list.len() > 1)
    st.dataframe(table, hide_index=True, column_config={"Setting": st.column_config.Column(pinned=True)})

st.subheader("Missing, half-written or corrupt")
with problem("Checking the runs"):
    findings = check_runs(runs_root)
    if not findings:
        st.success("Every checkpoint is probed and every file is whole.")
    else:
        st.caption("From `probscope check`: what each problem is and the command that fixes it.")
        show_table(pl.DataFrame([{"kind": f.kind, "path": str(f.path), "problem": f.problem, "fix": f.fix}
                                 for f in findings]))
    unevaluated = [(run.name, name, sorted(set(run.checkpoint_steps()) - set(run.evaluated_steps(name))))
                   for run in discover_runs(runs_root) for name in run.eval_names()]
    unevaluated = [(run, name, steps) for run, name, steps in unevaluated if steps]
    if unevaluated:
        st.markdown("**Checkpoints not evaluated yet**")
        show_table(pl.DataFrame([{"run": run, "evaluation": name, "steps": ", ".join(map(str, steps)),
                                  "fix": f"probscope eval --runs {runs_root} --benchmark {name} --runs-filter {run}"}
                                 for run, name, steps in unevaluated]))
