"""Estimators: ML with random starts (``ml.py``) on compiled likelihood functions."""
