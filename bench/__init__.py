"""Measure what the partnership engine costs against Temporal's own floor on the same machine.

`python -m bench` starts its own dev server and worker processes; see `bench.__main__`.
Kept free of imports so the worker subprocesses and the bare list script start light.
"""
