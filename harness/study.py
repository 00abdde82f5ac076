"""One command's study: the scale, the tables and protocols, the results folder and the settings every job takes.

A :class:`Study` configures any table row at any seed (:meth:`Study.configure`) and resolves the run a row starts
from (:meth:`Study.resolve`): the tasks ask it, instead of receiving the scale, the protocol, the flags and a
resolver closure one by one. It reads no run folder (:mod:`harness.store` does) and runs nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from harness.errors import HarnessError
from harness.experiments import Row, Table
from harness.paths import dataset_folder

if TYPE_CHECKING:
    from harness.tasks.base import Task


@dataclass(frozen=True)
class RunSettings:
    """The command's flags that every job takes. ``epochs``, ``gpus_per_job``, ``input_pipeline`` and
    ``precision`` change what a run computes (its identity); the others say where data are and how jobs execute."""

    backbones: Mapping[str, str] = field(default_factory=dict)  # upstream row -> a checkpoint file (--backbone)
    data: Mapping[str, str] = field(default_factory=dict)  # data set name -> its folder (--data)
    data_root: str | None = None
    device: str = "auto"
    num_workers: int = 0
    plugins: tuple[str, ...] = ()
    epochs: int | None = None
    gpus_per_job: int | None = None
    compile: bool = False
    input_pipeline: str | None = None  # None: the protocol's, else the harness's default
    precision: str = "auto"


@dataclass(frozen=True)
class RowRun:
    """A table row at one seed, with the protocol of its table at the study's scale: what a task configures."""

    table: Table
    row: Row
    seed: int
    protocol: dict[str, Any]


@dataclass
class Study:
    """What one command plans over: every table (``catalog``, with the candidates' rows), their protocols, one
    scale, the results folder and the command's :class:`RunSettings`."""

    scale: str
    protocols: dict[str, Any]
    catalog: dict[str, Table]
    results: Path
    settings: RunSettings = field(default_factory=RunSettings)

    def protocol(self, table: Table) -> dict[str, Any]:
        """The settings of ``table``'s protocol at this scale."""
        settings = self.protocols[table.protocol].get(self.scale)
        if settings is None:
            raise HarnessError(f"{table.id}: protocol {table.protocol!r} has no {self.scale!r} scale")
        return settings

    def has_scale(self, table: Table) -> bool:
        return self.scale in self.protocols[table.protocol]

    def run_folder(self, key: str) -> Path:
        """Where the run of ``key`` is kept: ``<results>/<scale>/<key>``."""
        return Path(self.results) / self.scale / key

    def data_folder(self, dataset: str) -> str | None:
        """The ``data_root`` a job reading ``dataset`` is given: its own folder (``--data``, or its conventional
        folder under the data root), or ``--data-root`` unchanged where that is the folder (so that a plain
        layout plans as before)."""
        folder, how = dataset_folder(dataset, self.settings.data_root, dict(self.settings.data))
        return self.settings.data_root if how == "the data root" else str(folder)

    def task(self, table: Table) -> "Task":
        from harness.tasks import TASKS

        return TASKS[table.task]

    def configure(self, table: Table, row: Row, seed: int) -> tuple[dict[str, Any], str]:
        """The configuration of ``row`` of ``table`` at ``seed``, and its key (:class:`~harness.tasks.Unrunnable`
        where it cannot run at this scale)."""
        return self.task(table).configure(self, RowRun(table, row, seed, self.protocol(table)))

    def resolve(self, reference: str, seed: int) -> tuple[str, Path, dict[str, Any]]:
        """The run of another table's row (``"T3_imagenet_r50/CutMix"``) at this scale and ``seed``: (its key, its
        folder, its configuration). A fine-tuning job names the run whose checkpoint it starts from."""
        table, row = self.row_of(reference)
        config, key = self.configure(table, row, seed)
        return key, self.run_folder(key), config

    def row_of(self, reference: str) -> tuple[Table, Row]:
        """The table and row ``"table/row"`` names."""
        table_id, _, row_name = reference.partition("/")
        table = self.catalog.get(table_id)
        row = next((r for r in table.rows if r.name == row_name), None) if table else None
        if row is None:
            raise HarnessError(f"backbone {reference!r} names no table row")
        return table, row
