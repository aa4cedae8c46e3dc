"""rchain: reproduce DeepSeek-R1-style reasoning distillation for math, end to end."""

__version__ = "0.1.0"
