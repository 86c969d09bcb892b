"""What the kernels implement, by name, importable without Numba or numpy: the configs (``dse.config``)
validate against these, so ``dse SUB --help`` lists allowed values without loading the numeric stack.
Each tuple is re-exported by the module that implements it (``kernels.adc``, ``kernels.faults``,
``kernels.slicing``)."""

ADC_RANGES = ("full", "calibrated", "clip")  # kernels.adc: how the ADC's step is set
FAULT_MODELS = ("iid", "column")             # kernels.faults: how stuck cells are placed
MAPPINGS = ("differential", "offset")        # kernels.slicing: how signed weights sit on the cells
VOTES = ("median", "mean", "test-aware")     # kernels.vote: how a group's copies are combined (beside the
                                             # internal "first": the one copy, or no protection)
