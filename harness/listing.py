"""``run_all.py --list``: what there is to run (tables and their rows, methods and their parameters, scales,
data sets), read from the specs and the sources; nothing runs, nothing is written, no torch is imported."""
from __future__ import annotations

from typing import Any

from harness.augment.registry import available, parameters, summary
from harness.experiments import SCALES, Row, Table
from harness.fingerprint import GENERATORS
from harness.robustness.sets import ODIN_FOLDERS

LISTS = ("tables", "methods", "scales", "datasets")
DOWNLOADABLE = ("cifar10", "cifar100")  # the data sets run_all.py --download fetches (torchvision)


def listing(what: str, catalog: dict[str, Table], protocols: dict[str, Any]) -> str:
    """The ``--list`` text of ``what`` (one of :data:`LISTS`, or ``all``)."""
    makers = {"tables": lambda: list_tables(catalog, protocols), "methods": list_methods,
              "scales": lambda: list_scales(catalog, protocols), "datasets": lambda: list_datasets(catalog, protocols)}
    return "\n\n".join(makers[name]() for name in (LISTS if what == "all" else (what,)))


def table_scales(table: Table, protocols: dict[str, Any]) -> list[str]:
    """The scales ``table`` runs at (its protocol's), in :data:`SCALES` order."""
    return [scale for scale in SCALES if scale in protocols[table.protocol]]


def describe_row(row: Row) -> str:
    """A row's method with what it sets (parameters, model, starting run), or why it is only planned."""
    if row.planned:
        return f"planned: {row.planned}"
    parts = [row.method or ""]
    parts += [f"{key}={value}" for key, value in {**row.params, **row.model_kwargs}.items()]
    parts += [f"model {row.model}"] * bool(row.model) + [f"policy {row.data_policy}"] * bool(row.data_policy)
    parts += [f"from {row.backbone}"] * bool(row.backbone) + ["not in the paper"] * row.extra
    return ", ".join(parts)


def list_tables(catalog: dict[str, Table], protocols: dict[str, Any]) -> str:
    """Each table (id, title, scales) with its rows: what ``--tables`` and ``--rows`` take."""
    lines = [f"tables ({len(catalog)}; --tables takes an id, its number or prefix: 5, T5, A1, F3; --rows a row name):"]
    for table in catalog.values():
        lines.append(f"{table.id}  {table.title}  [{', '.join(table_scales(table, protocols))}]")
        width = max(len(row.name) for row in table.rows)
        lines += [f"    {row.name:{width}s}  {describe_row(row)}" for row in table.rows]
    return "\n".join(lines)


def list_methods() -> str:
    """Each registered method with what it is and its parameters (their defaults; a scale's method_defaults in
    protocols.yaml and a row's params override them)."""
    names = available()
    lines = [f"methods ({len(names)}; --methods takes these names; a row's method may compose them, as cutout+mixup):"]
    for name in names:
        params = ", ".join(f"{key}={value}" for key, value in parameters(name).items())
        lines += [f"{name}  {summary(name)}", f"    parameters: {params or 'none'}"]
    return "\n".join(lines)


def list_scales(catalog: dict[str, Table], protocols: dict[str, Any]) -> str:
    """Each scale with what it is for and how many tables run at it."""
    lines = ["scales (--scale; each table's settings at each are its protocol's, in protocols.yaml of --experiments):"]
    width = max(map(len, SCALES))
    for scale, purpose in SCALES.items():
        count = sum(scale in table_scales(table, protocols) for table in catalog.values())
        lines.append(f"{scale:{width}s} {purpose} ({count} tables)")
    return "\n".join(lines)


def list_datasets(catalog: dict[str, Table], protocols: dict[str, Any]) -> str:
    """Each data set the protocols train or evaluate on, where it comes from, its scales and its tables."""
    uses: dict[str, dict[str, set[str]]] = {}
    for table in catalog.values():
        for scale, settings in protocols[table.protocol].items():
            names = [settings["dataset"]] if "dataset" in settings else []
            names += [f"ood/{folder}" for folder in settings.get("ood_sets", {}).values() if folder in ODIN_FOLDERS]
            for name in names:
                use = uses.setdefault(name, {"scales": set(), "tables": set()})
                use["scales"].add(scale)
                use["tables"].add(table.id)
    lines = ["data sets (real ones are read from --data-root: default $MIXBENCH_DATA or ~/.cache/mixbench; "
             "the out-of-distribution noise and smoke stand-ins are generated):"]
    width = max(map(len, uses))
    for name, use in sorted(uses.items()):
        source = ("generated" if name in GENERATORS else
                  "real, --download fetches it" if name in DOWNLOADABLE else "real, put it under --data-root")
        scales = ", ".join(scale for scale in SCALES if scale in use["scales"])
        tables = ", ".join(table_id for table_id in catalog if table_id in use["tables"])
        lines.append(f"{name:{width}s}  {source}; {scales}: {tables}")
    return "\n".join(lines)
