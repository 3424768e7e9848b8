"""diagnose_pairs: the reports of many (run, against) pairs, every run read once, as diagnose writes each."""

import importlib

import pytest
from helpers import build_fixture_runs

import probscope as ps
from probscope.analysis.diagnose import diagnose_pairs
from probscope.probe import summaries

PAIRS = [("base", None), ("sft", None), ("dft", "sft"), ("base", "sft"), ("dft", "dft")]
MODULE = importlib.import_module("probscope.analysis.diagnose")   # the package's `diagnose` is the function


@pytest.mark.parametrize("summarized", [False, True], ids=["rows", "summaries"])
def test_every_pair_reads_as_diagnose_says_it_once_for_all_runs(tmp_path, monkeypatch, summarized):
    root = build_fixture_runs(tmp_path)
    if summarized:
        assert summaries.summarize_all(root, progress=False)
    expected = [ps.diagnose(root, run, against=against) for run, against in PAIRS]
    loads: list[list[str]] = []
    load_tokens = MODULE.load_tokens
    monkeypatch.setattr(MODULE, "load_tokens", lambda *a, **k: loads.append(k["runs"]) or load_tokens(*a, **k))
    assert diagnose_pairs(root, PAIRS) == expected
    assert loads == [["base", "sft", "dft"]]                 # one read of the three runs, not one per pair
    assert expected[2].splitlines()[0] == ("dft (dft, step 10) against sft (sft, step 10): tokens with p < 0.1 "
                                           "at the final step")
    assert expected[3] != expected[0] and " vs " in expected[3].splitlines()[1]   # against: both runs' figures
