"""Name -> augmentation class registry, and loading of user plugins from outside the package.

The built-in methods are found by reading the ``@register("name")`` lines of ``harness/augment/*.py`` and
imported when first built, so that naming and validating methods (planning a run) needs no torch.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from importlib.metadata import entry_points
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, TypeVar

from harness.errors import HarnessError, UnknownNameError

T = TypeVar("T")
_REGISTRY: dict[str, type] = {}
ENTRY_POINT_GROUP = "mixbench.augmentations"
_REGISTER_LINE = re.compile(r'^@register\("([^"]+)"\)', re.MULTILINE)
SET_BY_THE_HARNESS = frozenset({"num_classes", "seed", "generator", "inplace"})  # not a spec row's parameters


@lru_cache(maxsize=None)
def builtin_modules() -> dict[str, str]:
    """Name -> module of each built-in method, from the decorator lines of the package's files (no import)."""
    return {name: f"{__package__}.{path.stem}" for path in sorted(Path(__file__).parent.glob("*.py"))
            for name in _REGISTER_LINE.findall(path.read_text(encoding="utf-8"))}


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make an augmentation buildable by ``name`` (from specs and the command line)."""

    def decorator(cls: T) -> T:
        existing = _REGISTRY.get(name)
        owner = existing.__module__ if existing is not None else builtin_modules().get(name)
        if owner is not None and (owner, getattr(existing, "__qualname__", cls.__qualname__)) != (cls.__module__, cls.__qualname__):
            raise HarnessError(f"augmentation name {name!r} is already registered by {owner}")
        _REGISTRY[name] = cls
        cls.name = name
        return cls

    return decorator


def is_known(name: str) -> bool:
    """Whether ``name`` is registered, or a ``+`` composition of registered names."""
    _load_entry_points()
    return all(part in _REGISTRY or part in builtin_modules() for part in name.split("+"))


def available() -> list[str]:
    """Registered augmentation names, sorted."""
    _load_entry_points()
    return sorted(set(_REGISTRY) | set(builtin_modules()))


def get(name: str) -> type:
    """The class registered as ``name``; a clear error listing the known names otherwise."""
    _load_entry_points()
    if name not in _REGISTRY and name in builtin_modules():
        importlib.import_module(builtin_modules()[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown augmentation {name!r}; registered: {', '.join(available())} "
            "(add your own with harness.augment.register, see docs/adding_a_method.md)"
        ) from None


def parameters(name: str) -> dict[str, str]:
    """The parameters a spec row can give method ``name`` (its class's and its bases' constructor keywords),
    each with its default as source text. Built-in methods are read from their source, so no torch is
    imported; a plugin's class, imported already, from its signature."""
    _load_entry_points()
    if name in builtin_modules():
        return _source_parameters(_builtin_sources().registered[name])
    params: dict[str, str] = {}
    for cls in get(name).__mro__:
        if "__init__" not in vars(cls):
            continue
        signature = inspect.signature(cls.__init__).parameters.values()
        params |= {p.name: repr(p.default) for p in signature if p.default is not p.empty and p.name not in params}
        if not any(p.kind is p.VAR_KEYWORD for p in signature):
            break
    return {key: value for key, value in params.items() if key not in SET_BY_THE_HARNESS}


def summary(name: str) -> str:
    """The first paragraph of method ``name``'s docstring (what it is, with its paper), on one line."""
    _load_entry_points()
    if name in builtin_modules():
        return _builtin_sources().summaries[name]
    cls = get(name)
    return _first_paragraph(inspect.getdoc(cls) or sys.modules[cls.__module__].__doc__)


def _first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


class _Sources(NamedTuple):
    """The package's files parsed (not imported)."""

    registered: dict[str, ast.ClassDef]  # method name -> its class
    summaries: dict[str, str]  # method name -> its module docstring's first paragraph
    classes: dict[str, ast.ClassDef]  # every class by its Python name (to follow the bases)


@lru_cache(maxsize=None)
def _builtin_sources() -> _Sources:
    """The built-in methods' classes as source, read once."""
    registered, summaries, by_name = {}, {}, {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        for node in (n for n in module.body if isinstance(n, ast.ClassDef)):
            by_name[node.name] = node
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register":
                    registered[decorator.args[0].value] = node
                    summaries[decorator.args[0].value] = _first_paragraph(ast.get_docstring(module))
    return _Sources(registered, summaries, by_name)


def _source_parameters(node: ast.ClassDef) -> dict[str, str]:
    """What :func:`parameters` gives for a class read from source: its ``__init__``'s keywords with defaults,
    then (where it passes ``**kwargs`` on, or has no ``__init__``) its first base's."""
    params: dict[str, str] = {}
    while node is not None:
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is not None:
            arguments = init.args
            positional = arguments.args[len(arguments.args) - len(arguments.defaults):]
            named = list(zip(positional, arguments.defaults)) + list(zip(arguments.kwonlyargs, arguments.kw_defaults))
            params |= {arg.arg: ast.unparse(default) for arg, default in named
                       if default is not None and arg.arg not in params}
            if arguments.kwarg is None:
                break
        base = getattr(node.bases[0], "id", None) if node.bases else None
        node = _builtin_sources().classes.get(base)
    return {key: value for key, value in params.items() if key not in SET_BY_THE_HARNESS}


def build(name: str, num_classes: int, **params):
    """Instantiate the augmentation ``name`` for ``num_classes`` classes with its parameters.

    ``"a+b"`` builds the composition of registered methods a then b; each component's parameters are
    given as a dict under its name (see :mod:`harness.augment.compose`).
    """
    try:
        if "+" not in name:
            return get(name)(num_classes=num_classes, **params)
        from harness.augment.compose import COMMON, Compose

        parts = name.split("+")
        unknown = set(params) - set(parts) - set(COMMON)
        if unknown:
            raise TypeError(f"unexpected parameter(s) {sorted(unknown)}: give component parameters under their name")
        components = [(get(part), dict(params.get(part, {}))) for part in parts]
        return Compose(num_classes, components, **{k: v for k, v in params.items() if k in COMMON})
    except (TypeError, ValueError) as err:
        raise HarnessError(f"augmentation {name!r}: {err}") from None


def load_plugins(plugins: Iterable[str]) -> None:
    """Import user modules that call ``register``: each item is a ``.py`` path or a dotted module name."""
    for plugin in plugins:
        path = Path(plugin)
        if plugin.endswith(".py"):
            if not path.is_file():
                raise HarnessError(f"plugin file not found: {path}")
            module_name = f"mixbench_plugin_{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except SyntaxError as err:
                del sys.modules[module_name]
                raise HarnessError(f"plugin {path}, line {err.lineno}: {err.msg}; fix the file and run again") from None
            except HarnessError:
                del sys.modules[module_name]
                raise
            except Exception as err:
                del sys.modules[module_name]
                line = next((frame.lineno for frame in reversed(traceback.extract_tb(err.__traceback__))
                             if Path(frame.filename) == path), "?")
                raise HarnessError(f"plugin {path}, line {line}: {type(err).__name__}: {err}; fix the file and run again") from None
        else:
            try:
                importlib.import_module(plugin)
            except ModuleNotFoundError as err:
                raise HarnessError(f"plugin module {plugin!r} cannot be imported: {err}") from None


_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import installed packages that declare augmentations under the ``mixbench.augmentations`` group."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
