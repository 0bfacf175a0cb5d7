"""Start-up cost of one sandboxed Python tool run, against a bare interpreter.

    .venv/bin/python bench/sandbox.py [--runs 20]

Times ``PythonTool(enabled=True).run(code="print(2 + 3)")`` (every isolation layer
the machine allows) and ``python -I -S -c pass``, interleaved, ``--runs`` each;
prints medians and which layers were up. Figures in docs/chains.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from heron.chains.agents import PythonTool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tool = PythonTool(enabled=True)
    try:
        tool.run(code="pass")  # the first run creates the scratch folder
        bare, sandboxed = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            out = tool.run(code="print(2 + 3)")
            sandboxed.append(time.perf_counter() - started)
            assert out.strip() == "5", out
        layers = ", ".join(name for name, up in tool.isolation.items() if up)
    finally:
        tool.close()
    print(f"layers up: {layers or 'none'}")
    print("| arm | median ms | min | max |\n|---|---:|---:|---:|")
    for name, times in (("python -I -S -c pass", bare), ("sandboxed print(2 + 3)", sandboxed)):
        ms = [t * 1e3 for t in times]
        print(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} |")


if __name__ == "__main__":
    main()
