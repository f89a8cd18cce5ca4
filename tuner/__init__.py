"""Tuner: a no-code finetuning studio. The core package (no UI imports here)."""

__version__ = "0.1.0"
