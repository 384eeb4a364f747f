"""Put the repository root and the generated protobuf package on the venv's import path.

KillrVideo is an application, not a library: rather than building and installing it (which would
need an unpinned build backend), the venv gets a .pth file naming the checkout, so `services`,
`localcql`, `benchmarks` and the generated `killrvideo.*_pb2` modules (which live beside their
.proto files in protos/) import from anywhere, e.g. under `nameko run` or `nameko shell`.
"""

import pathlib
import sysconfig

root = pathlib.Path(__file__).resolve().parent.parent
site_packages = pathlib.Path(sysconfig.get_paths()["purelib"])
(site_packages / "killrvideo.pth").write_text(f"{root}\n{root / 'protos'}\n")
