"""``prunelab import``: register a network trained elsewhere as a finished run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class ImportFormat(str, Enum):
    torch = "torch"
    sparselab = "sparselab"
    npz = "npz"


class Activation(str, Enum):
    relu = "relu"
    tanh = "tanh"
    gelu = "gelu"
    silu = "silu"


def register(app: typer.Typer) -> None:
    """Add the ``import`` command to ``app``."""

    @app.command("import")
    def import_(
        file: Annotated[
            Path,
            typer.Argument(
                help=".pt state dict (dense or torch.nn.utils.prune masks), sparselab state dict, or .npz."
            ),
        ],
        format_: Annotated[
            ImportFormat | None,
            typer.Option("--format", help="torch, sparselab or npz (default: from the file)."),
        ] = None,
        name: Annotated[
            str | None,
            typer.Option("--name", help="Run name (default: the file's stem); must be new."),
        ] = None,
        data: Annotated[
            str,
            typer.Option(
                "--data", help="Data set the network was trained on (analyses use its test split)."
            ),
        ] = "fashion-mnist",
        activation: Annotated[
            Activation,
            typer.Option(
                "--activation", help="Activation between layers (a state dict does not record it)."
            ),
        ] = Activation.relu,
        zeros_as_missing: Annotated[
            bool,
            typer.Option(
                "--zeros-as-missing", help="Exact zeros of unpruned layers are missing links."
            ),
        ] = False,
        runs_dir: Annotated[
            Path, typer.Option("--runs-dir", help="Results store directory.")
        ] = Path("runs"),
    ) -> None:
        """Import a network trained elsewhere as a finished run; analyse it like any run."""
        from rich.console import Console
        from rich.table import Table

        from prunelab.experiments import Store
        from prunelab.studies.imported import import_network

        console = Console()
        result = import_network(
            Store(runs_dir),
            file,
            format_.value if format_ else None,
            name,
            data,
            activation.value,
            zeros_as_missing,
        )
        table = Table(
            title=f"imported {file.name} ({result['format']}) as run {result['run_id']} '{result['name']}'"
        )
        for col in ("layer", "n_in", "n_out", "sparse", "links", "density (%)"):
            table.add_column(col)
        for row in result["layers"]:
            table.add_row(
                row["layer"],
                str(row["n_in"]),
                str(row["n_out"]),
                "yes" if row["sparse"] else "no",
                str(row["links"]),
                f"{100 * row['links'] / (row['n_in'] * row['n_out']):.3g}",
            )
        console.print(table)
        console.print(
            f"analyse it: `prunelab robustness {result['name']}`, `prunelab report {result['name']}`"
        )
