"""What code computes a result, as digests: part of a run's identity and of its record.

Two levels, decided once here:

* **In the run's identity** (its job key): the code of its *method* (the file that registers it, with the files of
  its own package it imports: ``harness/augment/cutmix.py`` and ``sampling.py``; a plugin file as it is) and of its
  *model* (the harness's model files likewise; a timm model by timm's version). Editing a plugin or a method makes
  another run, and the old record stays in its own folder.
* **In every record**: the harness commit and a digest per source file of the code that computes figures
  (:data:`COMPUTING`: training, data, tasks, metrics). A record made by other harness code is *stale*: the report
  marks it with the files changed since, and ``run_all.py --rerun-stale`` runs it again.

Digests are of the parsed code (``ast``), not of the text: comments, docstrings and formatting change nothing.
Torch-free and import-free for built-ins: planning reads the files.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
# The harness's code that computes a figure (what a stale record was made by); orchestration, reports and the
# command line are left out: they decide what runs and how it is shown, not what a run measures.
COMPUTING = ("augment", "captioning", "data", "detection", "localization", "models", "robustness", "tasks", "train",
             "devices.py", "io.py")
NAMING = ("registry.py", "__init__.py")  # how methods and models are found by name: not part of what one computes


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` without the docstrings of its module, classes and functions (comments are already gone)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def _parsed(path: Path, mtime_ns: int) -> tuple[str, tuple[str, ...]]:
    """(digest of the code, the modules it imports) of one Python file at one version."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = _strip_docstrings(ast.parse(text))
    except SyntaxError:  # not ours to judge here: named by its bytes
        return hashlib.sha256(text.encode()).hexdigest()[:16], ()
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")  # ".sampling": a relative import
            imports += [module] + [f"{module}.{alias.name}".replace("..", ".") for alias in node.names]
        elif isinstance(node, ast.Import):
            imports += [alias.name for alias in node.names]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16], tuple(imports)


def source_digest(path: Path) -> str:
    """16 hex digits naming the code of a Python file (comments, docstrings and layout left out)."""
    path = Path(path)
    return _parsed(path, path.stat().st_mtime_ns)[0]


def _with_local_imports(path: Path) -> list[Path]:
    """``path`` and the files of its own folder it imports, transitively (a method's helpers, a model's blocks)."""
    folder, seen, todo = path.parent, [], [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        for module in _parsed(current, current.stat().st_mtime_ns)[1]:
            candidate = folder / f"{module.rsplit('.', 1)[-1]}.py"
            local = module.startswith((".", f"harness.{folder.name}."))
            if local and candidate.name not in NAMING and candidate.is_file() and candidate not in seen:
                todo.append(candidate)
    return sorted(seen)


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}:{source_digest(path)};".encode())
    return digest.hexdigest()[:16]


def _method_file(name: str) -> Path | None:
    """The file that registers augmentation ``name`` (a built-in is found without importing it)."""
    from harness.augment.registry import _REGISTRY, builtin_modules

    if name in builtin_modules():
        return HARNESS / "augment" / f"{builtin_modules()[name].rsplit('.', 1)[-1]}.py"
    if name in _REGISTRY:
        source = inspect.getsourcefile(_REGISTRY[name])
        return Path(source) if source else None
    return None


def _plugin_files(plugin: str) -> list[Path]:
    """A plugin's source files: the ``.py`` file, or every ``.py`` file of a module or package."""
    if plugin.endswith(".py"):
        return [Path(plugin)] if Path(plugin).is_file() else []
    spec = importlib.util.find_spec(plugin)
    if spec is None or spec.origin is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for folder in spec.submodule_search_locations for p in Path(folder).rglob("*.py"))
    return [Path(spec.origin)]


def method_code(method: str, plugins: list[str] | tuple[str, ...] = ()) -> str:
    """A digest of what computes ``method``, per part of ``a+b``: a built-in's file and the files of
    ``harness/augment`` it imports; a method from a plugin package, that package's files; else its file."""
    packages = [files for files in map(_plugin_files, plugins) if len(files) > 1]
    parts = []
    for name in method.split("+"):
        path = _method_file(name)
        if path is None:
            files = []
        elif path.is_relative_to(HARNESS):
            files = _with_local_imports(path)
        else:
            files = next((files for files in packages if path.resolve() in {f.resolve() for f in files}), [path])
        parts.append(f"{name}={_files_digest(files) if files else 'unknown'}")
    return ";".join(parts)


@lru_cache(maxsize=None)
def _harness_model_files() -> dict[str, Path]:
    """Model name -> the harness file that registers it into timm (read, not imported)."""
    found = {}
    for path in sorted((HARNESS / "models").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                    getattr(d, "id", getattr(d, "attr", None)) == "register_model" for d in node.decorator_list):
                found[node.name] = path
    return found


def model_code(model: str) -> str:
    """A digest of the harness's files that define ``model``, or ``timm <version>`` for one of timm's own."""
    path = _harness_model_files().get(model)
    if path is not None:
        return _files_digest(_with_local_imports(path))
    try:
        return f"timm {version('timm')}"
    except PackageNotFoundError:
        return "timm ?"


def run_code(method: str, model: str, plugins: list[str] | tuple[str, ...] = ()) -> str:
    """The code part of a training run's identity: ``method:<...>|model:<...>``."""
    return f"method:{method_code(method, plugins)}|model:{model_code(model)}"


def harness_sources() -> dict[str, str]:
    """Per source file of :data:`COMPUTING` (relative to the project root), its digest: what a record was made by."""
    files = []
    for entry in COMPUTING:
        path = HARNESS / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return {path.relative_to(HARNESS.parent).as_posix(): source_digest(path) for path in files}


@lru_cache(maxsize=1)
def current_sources() -> dict[str, str]:
    """:func:`harness_sources` once per process: the code an orchestrator's workers fork from, and what the report
    compares records with."""
    return harness_sources()


def changed_files(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """The files whose code differs between a record's sources and the current ones (added and removed too)."""
    return sorted(name for name in set(recorded) | set(current) if recorded.get(name) != current.get(name))
