"""Maximum likelihood (and MAP) estimation on the objectives of ``engine/``.

``ml.py`` runs the pipeline: random starts (``starts.py``, ``optimize.py``, ``gom_start.py``,
``nested.py``), class ordering (``relabel.py``), standard errors (``stderr.py``), boundary
solutions (``boundary.py``), the integration certificate (``certificate.py``) and the checks
around a fit (``checks.py``); ``posterior_mode.py`` turns an objective into a MAP objective.
"""
