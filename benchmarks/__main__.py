import importlib
import os
import pathlib
import platform
import sys


def main() -> int:
    names = sorted(path.stem for path in pathlib.Path(__file__).parent.glob("bench_*.py"))
    selected = [name for name in names if not sys.argv[1:] or name in sys.argv[1:]]
    if not selected:
        print("no benchmarks to run; available:", ", ".join(names) or "none yet")
        return 1
    # Figures depend on the interpreter's build as much as on the code: say which one ran.
    print(f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})")
    for name in selected:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


sys.exit(main())
