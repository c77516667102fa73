"""Progress feedback (``progress.py``): the random-starts bar with the best log-likelihood, the
Monte Carlo and bootstrap bars, the compile notice, their silencing; and the HTML views."""

import warnings

import numpy as np
import pytest

import mlmix_pymc as mm
from mlmix_pymc import progress
from mlmix_pymc.enumeration import bootstrap_lrt

from conftest import LSAT_ITEMS


@pytest.fixture(scope="module")
def lsat_model(lsat):
    return mm.lca(lsat, LSAT_ITEMS, 2)


def test_starts_bar_shows_the_best_loglikelihood_and_the_options_silence_it(lsat_model, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = lsat_model.fit(starts=(6, 2), seed=1, se=None)  # default: stderr is not a terminal here
        assert capsys.readouterr().err == ""  # the compile of this first fit said nothing either
        res = lsat_model.fit(starts=(6, 2), seed=1, se=None, progress=True)
    err = capsys.readouterr().err
    assert "random starts 8/8" in err  # 6 initial + 2 final runs
    best = max(r.final_loglik for r in res.starts.records if np.isfinite(r.final_loglik))
    assert f"final stage, best LL {best:.3f}" in err.splitlines()[-1]
    assert best == pytest.approx(res.starts.loglik) and quiet.loglik == pytest.approx(res.loglik)
    initial = max(r.initial_loglik for r in res.starts.records)
    assert f"initial stage, best LL {initial:.3f}" in err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lsat_model.fit(starts=(6, 2), seed=1, se=None, progress=False, verbose=True)
        lsat_model.fit(starts=(6, 2), seed=1, se=None, verbose=False)
    assert capsys.readouterr().err == ""  # verbose=True: nothing compiled again, so no notice


def test_compile_notice_says_how_long_it_took(lsat, capsys, monkeypatch):
    monkeypatch.setattr(progress, "NOTICE_AFTER_S", 0.0)  # the notice as soon as a compile starts
    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", "0")  # a real compile, not a load of a stored function
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.lca(lsat, LSAT_ITEMS, 2).fit(starts=(2, 1), seed=1, se=None, verbose=True)
    err = capsys.readouterr().err
    assert err.count("compiling the model (once) ...") == 1
    assert err.rstrip().endswith(" s") and " compiled in " in err
    seconds = float(err.split(" compiled in ")[1].split()[0])
    assert 0 < seconds < 600
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.lca(lsat, LSAT_ITEMS, 2).fit(starts=(2, 1), seed=1, se=None, verbose=False)
    assert capsys.readouterr().err == ""


def test_monte_carlo_and_bootstrap_bars(lsat_model, lsat_enumeration, capsys):
    truth = {"[c#1]": 0.5, **{f"item{p}$1|c#{k}": (-2.5 if k == 1 else -0.5) for p in range(1, 6) for k in (1, 2)}}
    mc = mm.montecarlo(lsat_model, truth, n_reps=2, seed=1, fit_options={"se": None}, progress=True)
    err = capsys.readouterr().err
    assert "Monte Carlo replications 2/2" in err and f"{len(mc.failed)} failed" in err
    assert "random starts" not in err and "compiling" not in err  # the replications' fits are silent
    html = mc._repr_html_()
    assert "MONTE CARLO SUMMARY" in html and "item1$1|c#1" in html and "<table" in html
    small, large = lsat_enumeration.results[1], lsat_enumeration.results[2]
    p, stats = bootstrap_lrt(small, large, draws=3, starts=(2, 1), seed=4, progress=True)
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("bootstrap LRT 1 vs 2 classes 3/3")
    observed = 2 * (large.loglik - small.loglik)
    assert f"p = {int(np.sum(stats >= observed))}/{len(stats)}" in last and p == np.mean(stats >= observed)
    bootstrap_lrt(small, large, draws=2, starts=(2, 1), seed=4, progress=False)
    assert capsys.readouterr().err == ""


def test_html_views_hold_the_loglikelihood_and_the_tables(lsat_enumeration):
    res = lsat_enumeration.results[2]
    html = res._repr_html_()
    assert "<table" in html and "MODEL FIT INFORMATION" in html
    assert "Loglikelihood" in html and f"{res.loglik:.3f}" in html
    assert "MODEL RESULTS" in html and "RESULTS IN PROBABILITY SCALE" in html
    for name in res.parameters.query("status != 'fixed'")["name"]:
        assert f"<td>{name}</td>" in html
    assert f"{res.item_probabilities()['probability'].iloc[0]:.3f}" in html
    for title, *_ in res.report_tables():  # the same sections as summary()
        assert title in res.summary() and title.replace("(", "").split()[0] in html
    table = lsat_enumeration._repr_html_()
    assert "CLASS ENUMERATION" in table and f"{lsat_enumeration.table['BIC'].iloc[1]:.4f}" in table


def test_progress_bar_on_a_log_stream_writes_a_line_per_tenth():
    import io

    stream = io.StringIO()
    with progress.ProgressBar(100, "draws", progress=True, stream=stream) as bar:
        for i in range(100):
            bar.update(1, f"i={i}")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[0].startswith("draws 0/100") and lines[-1].startswith("draws 100/100")
    assert "i=99" in lines[-1]
    with progress.quiet():
        silent = progress.ProgressBar(5, "x", progress=True, stream=stream)
        assert not silent.on
