"""reram-dse: design-space exploration of fault-tolerant ReRAM compute-in-memory accelerators."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reram-dse")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
