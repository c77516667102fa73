"""HTML views of results for notebooks (``_repr_html_``): the sections of the text reports as tables.

Each function renders tables the result already exposes (``MLResult.fit_information`` /
``report_tables``, an enumeration's ``table``, a comparison's ``table``, a Monte Carlo
``summary()``) with ``pandas.DataFrame.to_html``; nothing is computed here.
"""

from __future__ import annotations

import html

import pandas as pd

STYLE = "<style>.mlmix h4{margin:0.8em 0 0.3em 0} .mlmix td,.mlmix th{padding:2px 8px}</style>"


def _table(frame: pd.DataFrame, decimals: int = 4, index: bool = False) -> str:
    return frame.to_html(index=index, float_format=lambda v: f"{v:.{decimals}f}", border=0, na_rep="",
                         classes="dataframe mlmix-table")


def _section(title: str, body: str) -> str:
    return f"<h4>{html.escape(title)}</h4>{body}"


def _page(title: str, parts: list[str]) -> str:
    return f'{STYLE}<div class="mlmix"><h3>{html.escape(title)}</h3>{"".join(parts)}</div>'


def result_html(result) -> str:
    """An ``MLResult``: fit information, starts, warnings, then every table of ``summary()``."""
    info = pd.DataFrame(result.fit_information(), columns=["", "value"])
    parts = [_section("MODEL FIT INFORMATION", info.to_html(index=False, header=False, border=0)),
             f"<p>{html.escape(result._starts_line())}</p>"]
    messages = result.messages()
    if messages:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in messages)
        parts.append(f'<ul style="color:#a33">{items}</ul>')
    for title, table, decimals, index in result.report_tables():
        parts.append(_section(title, _table(table, decimals, index)))
    codes = result._category_codes()
    if codes:
        parts.append(_section("CATEGORY CODES (original value -> code)",
                              "<br>".join(html.escape(c) for c in codes)))
    return _page("MLMIX_PYMC RESULTS", parts)


def enumeration_html(enumeration) -> str:
    """An ``Enumeration``: its comparison table (and the fits that failed)."""
    parts = [_table(enumeration.table, 4)]
    if enumeration.failures:
        items = "".join(f"<li>{html.escape(str(k))}: {html.escape(v)}</li>" for k, v in enumeration.failures.items())
        parts.append(_section("FAILED", f"<ul>{items}</ul>"))
    return _page("CLASS ENUMERATION", parts)


def comparison_html(comparison) -> str:
    """A ``Comparison``: ML beside posterior summaries and the two log-likelihoods."""
    note = (f"<p>loglikelihood at the ML optimum {comparison.loglik_ml:.3f}; at the posterior mean "
            f"{comparison.loglik_posterior_mean:.3f}</p>")
    return _page("ML AND BAYES ESTIMATES", [_table(comparison.table, 4), note])


def montecarlo_html(result) -> str:
    """A ``MonteCarloResult``: its ``summary()`` table and the failed replications."""
    parts = [_table(result.summary(), 4)]
    if result.failed:
        parts.append(f"<p>{len(result.failed)} replication(s) failed</p>")
    return _page("MONTE CARLO SUMMARY", parts)
