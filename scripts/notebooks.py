"""Run, strip and check the analyst notebooks (``notebooks/NN_*.ipynb``).

    python scripts/notebooks.py run   [NOTEBOOK…] [-p NAME=VALUE…] [--html-dir DIR]
    python scripts/notebooks.py strip [NOTEBOOK…]     # the pre-commit step
    python scripts/notebooks.py check [NOTEBOOK…]     # fresh and small (tests/test_notebooks.py)

``run`` executes each notebook top to bottom in a fresh kernel (nbclient; any error stops
it and exits 1), records in every code cell's metadata the hash of the source it ran
(``geo_discovery.source_sha256``), writes an HTML copy with the interactive maps to
``--html-dir`` (``make notebooks``: ``notebooks/html/``, git-ignored), then strips the
outputs that are too large to commit and writes the notebook back in place. With
``-p NAME=VALUE`` (papermill style: a cell tagged ``injected-parameters`` is inserted
after the one tagged ``parameters``; VALUE is a Python literal, or else a string) the
notebook runs for another snapshot or city and only its HTML copy is written.

``strip`` applies the size rules to committed notebooks (idempotent): an output bundle
larger than ``MAX_OUTPUT_BYTES`` (an interactive map: Leaflet and the data inlined) is
replaced by a one-line note saying where the HTML copy is; PNG plots, tables and text
stay. ``check`` lists what is wrong with a committed notebook: a code cell whose source
changed since it was run (or never ran), an error output, an output the strip rules
would remove, a notebook above ``MAX_NOTEBOOK_BYTES``, or injected parameters.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
HTML_DIR = NOTEBOOKS / "html"
META = "geo_discovery"
MAX_OUTPUT_BYTES = 250_000  # one output bundle (all its mime types; a PNG decoded) when committed
MAX_NOTEBOOK_BYTES = 1_500_000  # one committed notebook file
TIMEOUT_S = 600
# A <script src="http…"> tag: nbconvert's page loads require.js and MathJax from a CDN,
# which the notebooks do not use (the maps inline their own Leaflet).
_REMOTE_SCRIPT = re.compile(
    r"""<script\b[^>]*\bsrc=["'](https?:)?//[^"']+["'][^>]*>\s*</script>""", re.I
)

__all__ = [
    "check",
    "execute",
    "inject",
    "notebook_paths",
    "output_bytes",
    "source_hash",
    "strip",
    "to_html",
]


def notebook_paths(paths: Sequence[str | Path] = ()) -> list[Path]:
    """The given notebooks, or every ``notebooks/NN_*.ipynb`` in order."""
    if paths:
        return [Path(p).resolve() for p in paths]
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def source_hash(source: str | list[str]) -> str:
    """The sha256 of a cell's source (what ``run`` records and ``check`` compares)."""
    text = "".join(source) if isinstance(source, list) else source
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- parameters
def _parameters_cell(nb: Any) -> int:
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ValueError("the notebook has no cell tagged 'parameters'")


def _assigned_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def inject(nb: Any, parameters: Mapping[str, Any]) -> Any:
    """Insert a cell tagged ``injected-parameters`` assigning ``parameters`` after the
    ``parameters`` cell (papermill's convention). Every name must be a parameter."""
    import nbformat

    if not parameters:
        return nb
    at = _parameters_cell(nb)
    known = _assigned_names(nb.cells[at].source)
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    lines = ["# Injected parameters"] + [f"{k} = {v!r}" for k, v in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, cell)
    return nb


def parse_parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``: VALUE is a Python literal (``None``, ``2.5``, ``(40.7, -74.0)``) or a
    string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"-p {text!r}: expected NAME=VALUE")
    try:
        parsed: Any = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def _read(path: Path) -> Any:
    import nbformat

    return nbformat.read(path, as_version=4)


# ----------------------------------------------------------------------------- execution
def execute(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: int = TIMEOUT_S,
) -> Any:
    """Run a notebook in a fresh kernel (cwd: its folder; this checkout first on the
    kernel's ``PYTHONPATH``); any error raises nbclient's ``CellExecutionError``.
    Returns the executed notebook, each code cell stamped with the hash of the source
    it ran."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = inject(nbformat.read(path, as_version=4), parameters or {})
    # The kernel imports geo_discovery from this checkout, whatever the venv has installed.
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    extra = {
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(os.path.abspath(p) for p in paths)),
        **(env or {}),
    }
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=False,
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata[META] = {"source_sha256": source_hash(cell.source)}
    return nb


def to_html(nb: Any, out: str | Path) -> Path:
    """Write an HTML copy of an executed notebook (maps included) that opens offline:
    the page's remote scripts (require.js, MathJax) are left out."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    body = _REMOTE_SCRIPT.sub("", body)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- size rules
def output_bytes(output: Mapping[str, Any]) -> int:
    """Bytes of one output's payload (all mime types; a PNG counted decoded)."""
    total = 0
    for mime, data in output.get("data", {}).items():
        text = "".join(data) if isinstance(data, list) else data
        if not isinstance(text, str):
            text = json.dumps(text)
        total += len(base64.b64decode(text)) if mime.startswith("image/") else len(text)
    if "text" in output:
        text = output["text"]
        total += len("".join(text) if isinstance(text, list) else text)
    return total


def _stub(name: str, size: int) -> dict[str, Any]:
    note = (
        f"[interactive output stripped from the committed notebook ({size / 1e6:.1f} MB): "
        f"`make notebooks` writes notebooks/html/{name}.html with it]"
    )
    return {
        "output_type": "display_data",
        "data": {"text/plain": note},
        "metadata": {META: {"stripped_bytes": size}},
    }


def strip(nb: Any, name: str) -> list[str]:
    """Apply the size rules in place; returns what was stripped (empty: nothing)."""
    import nbformat

    changes = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            size = output_bytes(out)
            if size > MAX_OUTPUT_BYTES:
                changes.append(f"cell {i}: output of {size:,} bytes")
                outputs.append(nbformat.from_dict(_stub(name, size)))
            else:
                outputs.append(out)
        cell.outputs = outputs
    return changes


def check(path: str | Path) -> list[str]:
    """What is wrong with a committed notebook (empty list: fresh and small)."""
    import nbformat

    path = Path(path)
    problems = []
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            problems.append(f"cell {i}: injected parameters are committed (run without -p)")
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        recorded = cell.metadata.get(META, {}).get("source_sha256")
        if recorded is None or cell.get("execution_count") is None:
            problems.append(f"cell {i}: never run by scripts/notebooks.py run")
        elif recorded != source_hash(cell.source):
            problems.append(f"cell {i}: source changed since it was run")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: error output {out.get('ename')}")
            if output_bytes(out) > MAX_OUTPUT_BYTES:
                problems.append(f"cell {i}: an output of {output_bytes(out):,} bytes (strip it)")
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{size:,} bytes; allowed: {MAX_NOTEBOOK_BYTES:,}")
    return problems


# ----------------------------------------------------------------------------------- CLI
def _run(paths: Iterable[Path], parameters: dict[str, Any], html_dir: Path, timeout: int) -> int:
    import nbformat
    from nbclient.exceptions import CellExecutionError

    failed = 0
    for path in paths:
        start = time.perf_counter()
        try:
            nb = execute(path, parameters, timeout=timeout)
        except CellExecutionError as exc:
            print(f"{path.name}: FAILED\n{exc}", file=sys.stderr)
            failed += 1
            continue
        html = to_html(nb, html_dir / f"{path.stem}.html")
        note = f"HTML copy {html}"
        if not parameters:
            strip(nb, path.stem)
            nbformat.write(nb, path)
            note += f"; {path.name} written back ({path.stat().st_size / 1e3:.0f} kB)"
        print(f"{path.name}: ran in {time.perf_counter() - start:.1f} s; {note}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/notebooks.py", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute, write HTML copies, strip and write back")
    run.add_argument("notebooks", nargs="*")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--html-dir", type=Path, default=HTML_DIR)
    run.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds per cell")
    for name, text in (("strip", "apply the size rules (pre-commit)"),
                       ("check", "list stale cells and oversized outputs")):  # fmt: skip
        sub.add_parser(name, help=text).add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.command == "run":
        try:
            params = dict(parse_parameter(p) for p in args.parameter)
            for path in paths:  # every -p must name a parameter of every notebook run
                inject(_read(path), params)
        except ValueError as exc:
            parser.error(str(exc))
        return _run(paths, params, args.html_dir, args.timeout)
    if args.command == "strip":
        import nbformat

        for path in paths:
            nb = nbformat.read(path, as_version=4)
            changes = strip(nb, path.stem)
            if changes:
                nbformat.write(nb, path)
                print(f"{path.name}: stripped {len(changes)} output(s)")
        return 0
    bad = 0
    for path in paths:
        for problem in check(path):
            print(f"{path.name}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
