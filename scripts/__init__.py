"""The project's tools: `make run`'s launcher, the sample data, the protos' generation."""

import warnings

# Importing nameko (for its configuration loader) imports eventlet, which prints a dozen lines
# on its own deprecation to stderr. These tools run no eventlet code: the warning is not for
# their users, and in `make run LOG_FORMAT=json` it would be the launcher's only lines that are
# not JSON log records.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
