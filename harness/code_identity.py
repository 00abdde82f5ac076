"""What code computes a result, as digests: part of a run's identity and of its record.

Two levels, decided once here:

* **In the run's identity** (its job key): the code of its *method* (the file that registers it, with the files of
  its own package it imports: ``harness/augment/cutmix.py`` and ``sampling.py``; a plugin file as it is) and of its
  *model* (the harness's model files likewise; a timm model by timm's version). Editing a plugin or a method makes
  another run, and the old record stays in its own folder.
* **In every record**: the harness commit and a digest per source file of the code the run executes
  (:func:`executed_files`: the harness modules its task's runner imports, transitively, less the files that
  register methods and models, which the identity already names). A record made by other code is *stale*: the
  report marks it with the files changed since, and ``run_all.py --rerun-stale`` runs it again. Planning,
  reporting, the store and the code that names a run (this file) are in no run's code: changing them marks
  nothing stale.

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
# Files a runner imports that describe a run rather than compute it: never a reason to call a record stale.
DESCRIBING = ("code_identity.py", "identity.py", "train/provenance.py")
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
def harness_model_files() -> dict[str, Path]:
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
    path = harness_model_files().get(model)
    if path is not None:
        return _files_digest(_with_local_imports(path))
    try:
        return f"timm {version('timm')}"
    except PackageNotFoundError:
        return "timm ?"


def run_code(method: str, model: str, plugins: list[str] | tuple[str, ...] = ()) -> str:
    """The code part of a training run's identity: ``method:<...>|model:<...>``."""
    return f"method:{method_code(method, plugins)}|model:{model_code(model)}"


def _module_file(module: str) -> Path | None:
    """The harness file of ``harness.a.b`` (``a/b.py`` or ``a/b/__init__.py``), None outside the harness."""
    if module != "harness" and not module.startswith("harness."):
        return None
    base = HARNESS.joinpath(*module.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolved_imports(path: Path) -> list[Path]:
    """The harness files ``path`` imports (relative imports resolved; ``from a import b`` may name module
    ``a.b``; a ``lazy_exports`` table's submodules count as imports)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for module in _parsed(path, path.stat().st_mtime_ns)[1] + _lazy_submodules(path):
        level = len(module) - len(module.lstrip("."))
        if level:
            anchor = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{anchor}.{module.lstrip('.')}".rstrip(".")
        target = _module_file(module)
        if target is not None:
            found.append(target)
    return found


def _lazy_submodules(path: Path) -> tuple[str, ...]:
    """The submodules a package's ``lazy_exports(__name__, {name: submodule})`` table imports on first use, as
    relative imports (``.base``)."""
    text = path.read_text(encoding="utf-8")
    if "lazy_exports(" not in text:
        return ()
    found = []
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports" and len(node.args) == 2
                and isinstance(node.args[1], ast.Dict)):
            found += [f".{value.value}" for value in node.args[1].values if isinstance(value, ast.Constant)]
    return tuple(found)


@lru_cache(maxsize=None)
def _registering_files() -> frozenset[Path]:
    """The files that register a built-in method or a harness model: a run names its own in its identity."""
    from harness.augment.registry import builtin_modules

    methods = {_module_file(module) for module in builtin_modules().values()}
    return frozenset({path for path in methods if path} | set(harness_model_files().values()))


def executed_files(modules: tuple[str, ...]) -> list[Path]:
    """The harness files a run executes: the ``modules`` its task's runner imports and, transitively, every
    harness module they import, less the files that register methods and models (named by the run's identity)
    and the files that only describe a run (:data:`DESCRIBING`)."""
    skipped = _registering_files() | {HARNESS / name for name in DESCRIBING}
    seen: set[Path] = set()
    todo = [path for path in map(_module_file, modules) if path is not None]
    while todo:
        path = todo.pop()
        if path in seen or path in skipped:
            continue
        seen.add(path)
        todo += _resolved_imports(path)
    return sorted(seen)


def executed_sources(modules: tuple[str, ...]) -> dict[str, str]:
    """Per file of :func:`executed_files` (relative to the project root), its digest: what a record was made by."""
    return {path.relative_to(HARNESS.parent).as_posix(): source_digest(path) for path in executed_files(modules)}


def changed_files(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """The files of the run's code now (``current``) whose digest differs from the record's or that the record
    lacks; files the record names that the run no longer executes are left out (their importer changed)."""
    return sorted(name for name in current if recorded.get(name) != current[name])
