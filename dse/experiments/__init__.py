"""Experiments built on the simulator, the cost model and studies: accuracy against fault rate
(``sweep``), the fault rates a protection tolerates (``tolerance``), the README's number tables
(``report``) and speed benchmarks (``bench``)."""
