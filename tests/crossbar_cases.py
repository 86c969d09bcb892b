"""The random crossbar configurations the kernel tests draw (hypothesis); their weights, inputs and packed
layers come from kernels.testdata, as the benchmark's do."""
from hypothesis import strategies as st

from kernels import mvm_packed, pack_inputs, pack_levels
from kernels.exact import exact_layer


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


def popcount_step1(x, levels, groups, n_out, faults, hw):
    """The popcount kernel's ``(y, saturated)`` with ADC step 1 on bit lines ``levels`` (in, B) under
    ``faults``; ``hw`` holds rows, cell_bits, input_bits, dac_bits, signed_inputs and adc_bits."""
    wp = pack_levels(levels, hw["rows"], hw["cell_bits"], faults=faults)
    return mvm_packed(pack_inputs(x, hw["rows"], hw["input_bits"], hw["dac_bits"]), wp, groups, n_out,
                      input_bits=hw["input_bits"], dac_bits=hw["dac_bits"], cell_bits=hw["cell_bits"],
                      signed_inputs=hw["signed_inputs"], adc_bits=hw["adc_bits"], step=1.0)


def exact_step1(levels, groups, n_out, faults, hw, **options):
    """The exact path's layer (``kernels.exact.exact_layer``) of the same bit lines, ADC step 1."""
    return exact_layer(levels, groups, n_out, rows=hw["rows"], cell_bits=hw["cell_bits"], dac_bits=hw["dac_bits"],
                       adc_bits=hw["adc_bits"], step=1.0, input_bits=hw["input_bits"],
                       signed_inputs=hw["signed_inputs"], faults=faults, **options)
