"""Fitting and training circuits: free parameters in the spec, objectives, CMA-ES on Dask, sweeps.

`fit(spec)` (engine.py) tunes the values a spec's `fit` section frees against its objectives, evaluating the
candidates of each generation as Dask tasks; `sweep(spec, grid, metric)` (sweep.py) evaluates a grid on the same
machinery. See docs/fit.md.
"""
