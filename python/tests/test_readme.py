"""The Python code blocks of the READMEs run as written, against the installed wheel, from
the repository root (the directory their relative paths assume), so that they cannot drift
from the API. The gateway README's block needs a running gateway: test_oip.py runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


READMES = [ROOT / "README.md", ROOT / "python" / "README.md"]
BLOCKS = [(p, i, b) for p in READMES for i, b in enumerate(python_blocks(p))]


def test_every_readme_has_python_blocks() -> None:
    for path in READMES:
        assert python_blocks(path), f"no python block found in {path}"


@pytest.mark.parametrize(
    "path,index,code", BLOCKS, ids=[f"{p.relative_to(ROOT)}#{i}" for p, i, _ in BLOCKS]
)
def test_readme_block_runs(path: Path, index: int, code: str, tmp_path: Path) -> None:
    # /tmp paths in a block go to this test's own directory
    code = code.replace("/tmp/", f"{tmp_path}/")
    r = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"{path.name} block {index} failed:\n{r.stdout}\n{r.stderr}"
    # every `# NAME` comment after a print names what that block prints
    for expected in re.findall(r"print\(.*\)\s+#\s*([A-Z]+)\s*$", code, re.M):
        assert expected in r.stdout, (expected, r.stdout)
