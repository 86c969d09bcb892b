"""The random crossbar configurations the kernel tests draw (hypothesis); their weights, inputs and packed
layers come from kernels.testdata, as the benchmark's do."""
from hypothesis import strategies as st


def crossbar_fields(draw, rows, weight_bits=(2, 9), cols=None) -> dict:
    """``crossbar_mvm`` keyword arguments: ``rows`` (and ``cols``) from the lists given, 1-4 bit cells,
    ``weight_bits`` in the range given, 1-8 bit inputs, signed (through 1-bit DACs) or unsigned (1-3 bit
    DACs), both mappings."""
    signed = draw(st.booleans())
    cfg = dict(rows=draw(st.sampled_from(rows)))
    if cols is not None:
        cfg["cols"] = draw(st.sampled_from(cols))
    cfg.update(
        cell_bits=draw(st.integers(1, 4)),
        weight_bits=draw(st.integers(*weight_bits)),
        input_bits=draw(st.integers(1, 8)),
        dac_bits=1 if signed else draw(st.integers(1, 3)),
        mapping=draw(st.sampled_from(["differential", "offset"])),
        signed_inputs=signed,
    )
    return cfg
