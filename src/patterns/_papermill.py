"""One papermill run: ``python -m patterns._papermill ARGS`` is ``python -m papermill ARGS``
without the start-up cost of jsonschema's optional IRI grammar.

jsonschema imports ``rfc3987_syntax`` (when installed, as it is with JupyterLab) only to
check the rarely used ``iri`` string format, and that package builds a parser grammar at
import time: about 1.5 CPU-seconds in every papermill process and again in every kernel
(measured on this machine). Notebook runs never validate IRIs, so the report runner skips
it here and, through ``PATTERNS_REPORT_RUN=1``, in the kernels (see ``patterns.report``).
"""

from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # an ImportError jsonschema already expects

from papermill.cli import papermill  # noqa: E402 - must come after the line above

if __name__ == "__main__":
    papermill()
