"""Put the repository root on the venv's import path.

KillrVideo is an application, not a library: rather than building and installing it (which would
need an unpinned build backend), the venv gets a .pth file naming the checkout, so `services`,
`localcql` and `benchmarks` import from anywhere, e.g. under `nameko run` or `nameko shell`.
"""

import pathlib
import sysconfig

root = pathlib.Path(__file__).resolve().parent.parent
site_packages = pathlib.Path(sysconfig.get_paths()["purelib"])
(site_packages / "killrvideo.pth").write_text(f"{root}\n")
