"""Experiments built on the simulator, the cost model and studies: accuracy against fault rate
(``sweep``), the fault rates a protection tolerates (``tolerance``), the README's number tables
(``report``), speed benchmarks (``bench``) and the column-sum figure of docs/adc.md (``adc_codes``)."""

# Stuck-at rates measured on fabricated ReRAM arrays (Chen et al., IEEE Trans. Computers 2015): the fault point
# of the benchmarks and the report's tables, and the SA0:SA1 mix of the tolerated-rate search.
CHEN2015 = dict(sa0_rate=0.0175, sa1_rate=0.0904)
