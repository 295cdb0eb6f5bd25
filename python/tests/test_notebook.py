"""python/examples/notebook.ipynb runs top to bottom in a fresh kernel (its cells assert
what they show), and is kept in the repository without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


def test_notebook_is_stored_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 5
    for c in code:
        assert c["outputs"] == [] and c["execution_count"] is None, "strip the outputs"


def test_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own deprecation
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, "the latency/batch-size figure and the drift figure"
    highlighted = [o for o in outputs if "text/html" in o.get("data", {})]
    assert highlighted and "<mark" in highlighted[0]["data"]["text/html"]
