"""Run the documentation's Python blocks one after another in this one interpreter; write what each did.

``python block_runner.py BLOCKS.json RESULTS.json``: BLOCKS.json lists ``{"id", "code", "kind"}``. A ``dag`` block
is a DAG file: it is written to a file of its own and parsed the way Airflow's DAG processor parses it (a
``DagBag``: import, validation, cycle check, template files, then serialization), and must define a DAG. A
``script`` block runs as ``__main__`` (hook, notifier and client examples, which send into the sandbox). Each block
starts from the same working folder and environment; RESULTS.json maps each block id to ``null`` (it worked) or
the error and what it printed. Importing Airflow once for all blocks is what makes this cheap.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any


def parse_dag_file(path: Path) -> None:
    """Parse a DAG file as Airflow's DAG processor does; raise when it has an import error or no DAG."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    bag = DagBag(dag_folder=path, safe_mode=False)
    if bag.import_errors:
        raise RuntimeError("\n".join(bag.import_errors.values()))
    if not bag.dags:
        raise RuntimeError("the block defines no DAG")
    for dag in bag.dags.values():
        LazyDeserializedDAG.from_dag(dag)  # what the DAG processor stores; a value it cannot serialize fails here


def run_block(block: dict[str, Any], folder: Path) -> None:
    """Run one block in ``folder``."""
    if block["kind"] == "dag":
        path = folder / f"docs_dag_{re.sub(r'[^0-9A-Za-z]', '_', block['id'])}.py"
        path.write_text(block["code"], encoding="utf-8")
        parse_dag_file(path)
    else:
        code = compile(block["code"], block["id"], "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})


def main(blocks_file: str, results_file: str) -> None:
    folder, environment = Path.cwd(), dict(os.environ)
    results: dict[str, str | None] = {}
    for block in json.loads(Path(blocks_file).read_text(encoding="utf-8")):
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                run_block(block, folder)
            results[block["id"]] = None
        except BaseException:  # a block's sys.exit() or KeyboardInterrupt is its failure too, not the runner's
            results[block["id"]] = f"{traceback.format_exc()}\n{printed.getvalue()[-4000:]}"
        finally:
            os.chdir(folder)
            os.environ.clear()
            os.environ.update(environment)
        Path(results_file).write_text(json.dumps(results), encoding="utf-8")  # kept up to date, should one crash


if __name__ == "__main__":
    main(*sys.argv[1:])
