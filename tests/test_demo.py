"""The whole walking skeleton on a tiny scale: task -> base -> SFT/DFT -> probes -> export -> dashboard."""


import shutil

import pytest
from conftest import REPO

from probscope.builtin.settings import SAMPLING
from probscope.cli import main as cli_main
from probscope.runs import PROBE_DONE, Run, discover_runs


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    assert cli_main(["demo", "--smoke", "--no-serve", "--runs", str(root)]) == 0
    return root


@pytest.mark.slow
def test_demo_builds_runs_with_checkpoints_and_probe_tables(demo_root):
    runs = {run.name: run for run in discover_runs(demo_root)}
    # smoke: no DPO (no accepted samples)
    assert set(runs) == {"base", "sft", "dft", "facts-sft", "facts-dft", "grpo", "ppo"}
    assert {run.read_manifest().method for run in runs.values()} == {"base", "sft", "dft", "grpo", "ppo"}
    for name in ("grpo", "ppo"):
        assert runs[name].checkpoint_steps() == [0, 1, 2] and runs[name].probed_steps("train") == [0, 1, 2]
        assert runs[name].evaluated_steps("builtin-test-id") == [0, 1, 2]
    assert runs["base"].checkpoint_steps() == [4]
    assert runs["base"].probe_datasets() == ["facts-train", "train"]
    for name in ("sft", "dft"):
        assert runs[name].checkpoint_steps() == [0, 2, 4]
        assert runs[name].probed_steps("train") == [0, 2, 4]
    for name in ("facts-sft", "facts-dft"):
        assert runs[name].probe_datasets() == ["facts-train"]
        assert runs[name].probed_steps("facts-train") == [0, 2, 4]


@pytest.mark.slow
def test_demo_check_names_what_figure_2_lacks(demo_root, tmp_path, capsys):
    from probscope.demo import check_demo_probes

    # the smoke demo has every method of Figure 2 but DPO (no accepted samples to pair)
    assert cli_main(["demo", "--check", "--runs", str(demo_root)]) == 1
    assert "method 'dpo'" in capsys.readouterr().out
    assert [line for line in check_demo_probes(demo_root) if "'dpo'" not in line] == []
    copy = tmp_path / "runs"
    shutil.copytree(demo_root, copy)
    (Run(copy / "grpo").probe_dir(2, "train") / PROBE_DONE).unlink()       # an unfinished probe of grpo's last step
    for step in (0, 1, 2):                                                   # none of ppo's probes finished
        (Run(copy / "ppo").probe_dir(step, "train") / PROBE_DONE).unlink()
    problems = check_demo_probes(copy)
    assert any("grpo" in line and "steps 2 not probed" in line for line in problems)
    assert any("ppo" in line and "steps 0, 1, 2 not probed" in line for line in problems)
    assert {line.split("method ")[1].split()[0] for line in problems if "method" in line} == {"'dpo'", "'ppo'"}


@pytest.mark.slow
def test_demo_is_resumable_and_a_rerun_changes_nothing(demo_root, capsys):
    marker = discover_runs(demo_root)[0].manifest_path.stat().st_mtime_ns
    assert cli_main(["demo", "--smoke", "--no-serve", "--workers", "1", "--runs", str(demo_root)]) == 0
    assert "already finished" in capsys.readouterr().err      # training reports through logging
    assert discover_runs(demo_root)[0].manifest_path.stat().st_mtime_ns == marker


@pytest.mark.slow
def test_export_and_dashboard_on_the_demo_runs(demo_root, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    assert cli_main(["export", "--runs", str(demo_root), "--out", str(tmp_path), "--format", "png,pdf"]) == 0
    images = list(tmp_path.glob("*.png")) + list(tmp_path.glob("*.pdf"))
    assert len(images) >= 4 and all(p.stat().st_size > 1000 for p in images)

    monkeypatch.setenv("PROBSCOPE_RUNS", str(demo_root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Overview" and not app.info            # the runs, not the "no runs" note
    assert app.get("vega_lite_chart")                                    # Figure 2 at the final steps


@pytest.mark.parametrize(("flags", "quick"), [([], True), (["--full"], False)])
def test_demo_builds_the_quick_schedule_unless_full(flags, quick, tmp_path, monkeypatch):
    from probscope import demo
    from probscope.builtin.settings import QUICK_DEMO_STEPS

    seen = {}
    monkeypatch.setattr(demo, "build_demo_runs", lambda runs, **options: seen.update(options))
    assert cli_main(["demo", "--no-serve", "--runs", str(tmp_path), *flags]) == 0
    if not quick:    # the recipes as written
        assert set(seen) == {"workers"}
        return
    assert seen["probe_examples"] < demo.DEMO_PROBE_EXAMPLES and seen["sample_prompts"] < SAMPLING["limit"]
    for name, steps in QUICK_DEMO_STEPS.items():
        override = seen["overrides"][name]
        checkpoints = [int(step) for step in override["checkpoints"].split(",")]
        assert override["max_steps"] == steps == checkpoints[-1] and checkpoints[0] == 0
        assert checkpoints == sorted(set(checkpoints))
    assert "base" not in seen["overrides"]   # every run starts from the base's step 800, which recipes name


def test_demo_refuses_smoke_with_full(tmp_path, capsys):
    assert cli_main(["demo", "--smoke", "--full", "--no-serve", "--runs", str(tmp_path)]) == 2
    assert "--smoke and --full exclude each other" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())   # refused before anything was written
