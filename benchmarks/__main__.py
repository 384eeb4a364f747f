import importlib
import os
import pathlib
import platform
import sys

# grpcio (1.80 and later) hands each call of a blocking stub through the threads of its
# EventEngine client, in every figure of the benchmarks and in none of the services': on the
# 2-core machine 0.3 ms per call of the gRPC hop alone (client processes alternating), about
# 0.1 ms per GetVideo in bench_api's rounds. The benchmarks measure the services, so their clients
# run without that experiment (bench_api still prints GetVideo through a default client beside
# it); a GRPC_EXPERIMENTS of your own is left as it is. Set before any benchmark imports grpc.
LIGHT_GRPC_CLIENT = "-event_engine_client"


def main() -> int:
    os.environ.setdefault("GRPC_EXPERIMENTS", LIGHT_GRPC_CLIENT)
    names = sorted(path.stem for path in pathlib.Path(__file__).parent.glob("bench_*.py"))
    selected = [name for name in names if not sys.argv[1:] or name in sys.argv[1:]]
    if not selected:
        print("no benchmarks to run; available:", ", ".join(names) or "none yet")
        return 1
    # Figures depend on the interpreter's build as much as on the code: say which one ran.
    print(f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})")
    print(f"grpcio clients with GRPC_EXPERIMENTS={os.environ['GRPC_EXPERIMENTS']}")
    for name in selected:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


sys.exit(main())
