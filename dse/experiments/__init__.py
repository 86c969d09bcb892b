"""Experiments built on the simulator, the cost model and studies: accuracy against fault rate
(``sweep``), the fault rates a protection tolerates (``tolerance``), the README's number tables
(``report``), speed benchmarks (``bench``) and the column-sum figure of docs/adc.md (``adc_codes``)."""
