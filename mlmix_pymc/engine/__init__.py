"""The objectives the estimators work on: a compiled log-likelihood with its derivatives.

``compiled.py`` is the single-level objective and ``integrated.py`` the two-level one
(cluster random effects integrated, ``cluster_engine.py`` holding its compiled graph and
the data in cluster order, ``node_placement.py`` its integration nodes); ``row_chunks.py``
evaluates a single-level graph on chunks of rows and ``reuse.py`` serves one compiled
objective to many data sets. What every objective provides is declared in ``objective.py``.
"""
