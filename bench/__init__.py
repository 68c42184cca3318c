"""stilts-bench: throughput at matched XTREME accuracy for XLM-R-family encoders."""

__version__ = "0.1.0"
