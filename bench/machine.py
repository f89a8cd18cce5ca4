"""What machine a bench ran on, for the header line every bench prints."""

from __future__ import annotations

import subprocess


def cpu_name() -> str:
    """The CPU's model name as `lscpu` prints it ('unknown CPU' where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown CPU"
