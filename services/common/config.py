"""The project's config.yaml, loaded exactly as `nameko run --config` loads it.

Tools that are not nameko services (schema setup, the launcher, tests) read the same file through
this module, so there is one source of configuration. The file is found next to the checkout, or
at $KILLRVIDEO_CONFIG, never relative to the current directory.
"""

import os
import pathlib

from nameko.cli.utils.config import load_config

DEFAULT_CONFIG_PATH = pathlib.Path(__file__).resolve().parents[2] / "config.yaml"


def config_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("KILLRVIDEO_CONFIG") or DEFAULT_CONFIG_PATH)


def load(path: pathlib.Path | None = None) -> dict:
    with open(path or config_path(), "rb") as config_file:
        return load_config(config_file)
