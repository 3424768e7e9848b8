"""Runs: every run's metrics in one sortable, filterable table whose ticks choose the runs every page shows;
what each run is (manifest, hyper-parameters), what it holds (checkpoints, probes, evaluations), and what
is missing, half-written or corrupt, with the command that fixes it."""

import shlex

import polars as pl
import streamlit as st

from probscope import schema
from probscope.app import data, state
from probscope.app.metrics import ACCURACY_PREFIX, CHOSEN, runs_metrics, ticked_runs
from probscope.app.seeds import flat_config
from probscope.app.text import md
from probscope.app.ui import LABELS, SHARES, problem, readable, show_table
from probscope.errors import ProbscopeError, first_line
from probscope.runs import discover_runs

st.title("Runs")
runs_root = state.runs_root()
if runs_root is None:
    st.info(st.session_state.get("missing"))
    st.stop()
st.caption(f"{md(runs_root)}: each run directory holds manifest.json, checkpoints/step-N/, probes/<dataset>/step-N/ "
           "and evals/<name>/step-N/.")


def choose_from_table(names: list[str]) -> None:
    """Data-editor callback: the ticked rows of the shown table (`names`, in its order) become the sidebar's runs."""
    edits = st.session_state[f"runs_table:{st.session_state['_runs_table_version']}"]["edited_rows"]
    st.session_state["runs"] = ticked_runs(st.session_state.get("runs", []), st.session_state["_probed_runs"],
                                           names, {int(row): change.get(CHOSEN) for row, change in edits.items()})
    st.session_state["_runs_table_version"] += 1   # a fresh editor: its edits are now the choice itself


def metrics_table(selection: state.Selection) -> None:
    st.subheader("Runs and their metrics")
    st.caption(f"Dataset '{md(selection.dataset)}': each run at its sidebar step (unchosen runs at their last probed "
               "step); shares of target tokens with p < 0.1 and p ≥ 0.9, mean NLL, the last logged batch's "
               "losses and the last Average@k per benchmark at or before that step. Click a header to sort; "
               "tick runs to show them on every page.")
    state.url_state("runs_filter", "")
    wanted = st.text_input("Filter (part of a run's name or method)", key="runs_filter").strip().lower()
    if wanted:
        state.to_url("runs_filter")
    else:
        st.query_params.pop("runs_filter", None)
    table = runs_metrics(selection)
    if wanted:
        table = table.filter(pl.col(schema.RUN).str.to_lowercase().str.contains(wanted, literal=True)
                             | pl.col(schema.METHOD).str.to_lowercase().str.contains(wanted, literal=True))
    chosen = set(selection.runs)
    table = table.with_columns(pl.col(schema.RUN).is_in(chosen).alias(CHOSEN)).select(CHOSEN, pl.all().exclude(CHOSEN))
    st.session_state["_probed_runs"] = [name for name, _ in selection.probed]
    version = st.session_state.setdefault("_runs_table_version", 0)
    config = {column: st.column_config.NumberColumn(
        LABELS.get(column, column), format="%.1f%%" if column in SHARES or column.startswith(ACCURACY_PREFIX)
        else "%.3g") for column in table.columns if table.schema[column].is_float()}
    config[CHOSEN] = st.column_config.CheckboxColumn("Shown", help="Show this run on every page")
    accuracy = [column for column in table.columns if column.startswith(ACCURACY_PREFIX)]
    shown = readable(table).with_columns(pl.col(accuracy) * 100)
    st.data_editor(shown, key=f"runs_table:{version}", hide_index=True, disabled=list(shown.columns[1:]),
                   column_config={**{c: LABELS.get(c, c) for c in shown.columns}, **config},
                   on_change=choose_from_table, args=(table[schema.RUN].to_list(),))


selected = state.current()
if selected is not None:
    with problem("Runs and their metrics"):
        metrics_table(selected)

rows: list[dict[str, object]] = []   # one per run: text columns and the seed (a number or None)
configs: dict[str, dict[str, str]] = {}
for run in discover_runs(runs_root):
    try:
        manifest = run.read_manifest()
    except ProbscopeError as e:
        rows.append({"Run": run.name, "Method": "?", "Status": f"unreadable manifest: {first_line(e)}"})
        continue
    configs[run.name] = flat_config(manifest.config)
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
    findings = data.findings(runs_root)
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
                                  "fix": f"probscope eval --runs {shlex.quote(str(runs_root))} "
                                         f"--benchmark {shlex.quote(name)} --runs-filter {shlex.quote(run)}"}
                                 for run, name, steps in unevaluated]))
