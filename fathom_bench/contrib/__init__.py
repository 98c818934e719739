"""Methods that are not in the paper, contributed to the benchmark.

`transformer.py` is the worked example for newcomers: copy it, change the layers, add a YAML to
`configs/methods/` and your method runs in every command (see docs/adding-a-method.md).
"""
