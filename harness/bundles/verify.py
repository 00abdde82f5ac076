"""A bundle as the untrusted input it is: unpacked into a temporary folder and checked whole before anything of it
is written anywhere (:func:`read_bundle`). A refused bundle raises :class:`~harness.bundles.layout.BundleRefused`
with one reason a line."""
from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.bundles.layout import (FORMAT, MANIFEST, MEMBER, VERSION, BundleRefused, Limits, finite,
                                    record_problems, sha256_file, strict_json)


@dataclass
class VerifiedRun:
    """One run of a bundle whose files, key and record have been checked."""

    scale: str
    key: str
    task: str
    folder: Path  # its files, unpacked into the bundle's temporary folder
    record: dict[str, Any]
    job: dict[str, Any]


@dataclass
class VerifiedBundle:
    """A checked bundle: its manifest and runs, unpacked under ``root`` (removed by :meth:`close`)."""

    source: Path
    sha256: str  # of the archive file (of the manifest, for a folder)
    manifest: dict[str, Any]
    runs: list[VerifiedRun] = field(default_factory=list)
    root: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        if self.root is not None:
            self.root.cleanup()


def _name_problem(name: str) -> str | None:
    """Why a member's name may not stand in a bundle (None: it may)."""
    path = PurePosixPath(name)
    if path.is_absolute():
        return f"{name}: an absolute path"
    if ".." in path.parts:
        return f"{name}: a path that leaves the bundle (..)"
    if name != MANIFEST and not MEMBER.match(name):
        return f"{name}: not a file of the bundle format (manifest.json, runs/<scale>/<key>/<run file>)"
    return None


def _size_problems(sizes: dict[str, int], limits: Limits) -> list[str]:
    problems = [f"{name}: {size / 2**20:.1f} MiB, over the {limits.file_bytes / 2**20:.0f} MiB a file may hold "
                "(--import-max-file-mb)" for name, size in sizes.items() if size > limits.file_bytes]
    if sum(sizes.values()) > limits.total_bytes:
        problems.append(f"{sum(sizes.values()) / 2**20:.1f} MiB in all, over {limits.total_bytes / 2**20:.0f} MiB "
                        "(--import-max-total-mb)")
    if len(sizes) > limits.files:
        problems.append(f"{len(sizes)} files, over {limits.files}")
    return problems


def _archive_members(archive: tarfile.TarFile, limits: Limits) -> tuple[list[tarfile.TarInfo], list[str]]:
    """The archive's files and what is wrong with it: links, devices, names, sizes (folders are allowed)."""
    files, problems = [], []
    for member in archive.getmembers():
        if member.isdir():
            continue
        if not member.isfile():
            problems.append(f"{member.name}: a {'link' if member.issym() or member.islnk() else 'special file'}, "
                            "not a plain file")
        elif (problem := _name_problem(member.name)) is not None:
            problems.append(problem)
        else:
            files.append(member)
    return files, problems + _size_problems({m.name: m.size for m in files}, limits)


def _unpack_archive(source: Path, target: Path, limits: Limits) -> None:
    """The archive's files written under ``target`` by this code (never by tarfile's own extraction)."""
    try:
        with tarfile.open(source, "r:*") as archive:
            files, problems = _archive_members(archive, limits)
            if problems:
                raise BundleRefused(str(source), problems)
            for member in files:
                path = target / member.name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BundleRefused(str(source), [f"not a readable bundle archive ({type(err).__name__}: {err})"]) from None


def _copy_folder(source: Path, target: Path, limits: Limits) -> None:
    """A bundle folder's files copied under ``target``, with the same checks as an archive's members."""
    problems, sizes = [], {}
    for path in sorted(source.rglob("*")):
        name = path.relative_to(source).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            problems.append(f"{name}: a link or special file, not a plain file")
        elif path.is_file():
            problem = _name_problem(name)
            problems += [problem] if problem else []
            sizes[name] = path.stat().st_size
    problems += _size_problems(sizes, limits)
    if problems:
        raise BundleRefused(str(source), problems)
    for name in sizes:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes((source / name).read_bytes())


def _read_json(path: Path, what: str) -> tuple[Any, str | None]:
    try:
        return strict_json(path.read_bytes()), None
    except (ValueError, UnicodeDecodeError) as err:
        return None, f"{what}: not valid JSON ({err})"


def _manifest(root: Path) -> tuple[dict[str, Any], list[str]]:
    if not (root / MANIFEST).is_file():
        return {}, [f"no {MANIFEST}"]
    manifest, problem = _read_json(root / MANIFEST, MANIFEST)
    if problem:
        return {}, [problem]
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return {}, [f"{MANIFEST}: not a {FORMAT} manifest"]
    if manifest.get("version") != VERSION:
        return {}, [f"{MANIFEST}: format version {manifest.get('version')!r} (this harness reads version {VERSION})"]
    if not isinstance(manifest.get("runs"), list) or not all(isinstance(r, dict) for r in manifest["runs"]):
        return {}, [f"{MANIFEST}: runs is not a list of runs"]
    return manifest, []


def _file_problems(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Every unpacked file is listed in the manifest with its SHA-256, and every listed file is there."""
    listed = {}
    for run in manifest["runs"]:
        for name, digest in (run.get("files") or {}).items():
            listed[f"runs/{run.get('scale')}/{run.get('key')}/{name}"] = digest
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    problems = [f"{name}: not listed in the manifest" for name in sorted(present - set(listed))]
    problems += [f"{name}: listed in the manifest, missing" for name in sorted(set(listed) - present)]
    problems += [f"{name}: its SHA-256 is not the manifest's (damaged or edited)" for name in sorted(present & set(listed))
                 if sha256_file(root / name) != listed[name]]
    return problems


def _run_problems(folder: Path, scale: str, key: str, recompute_key) -> tuple[VerifiedRun | None, list[str]]:
    """One run's record, job description and key, checked."""
    where = f"run {scale}/{key}"
    record, problem = _read_json(folder / "record.json", f"{where}: record.json")
    job, job_problem = _read_json(folder / "job.json", f"{where}: job.json")
    problems = [p for p in (problem, job_problem) if p]
    if problems:
        return None, problems
    problems = [f"{where}: {p}" for p in record_problems(record)]
    if not finite(record) or not finite(job):
        problems.append(f"{where}: a non-finite number")
    if not isinstance(job, dict) or not isinstance(job.get("config"), dict) or not isinstance(job.get("task"), str):
        return None, problems + [f"{where}: job.json has no task and configuration"]
    if not problems:
        try:
            named = recompute_key(job["task"], job["config"])
        except Exception as err:  # a configuration the harness cannot read is refused, whatever the reason
            named = None
            problems.append(f"{where}: its configuration does not read as a {job['task']} run ({err})")
        if named is not None and named != key:
            problems.append(f"{where}: its configuration names run {named}, not {key} (the key does not match)")
    return (VerifiedRun(scale, key, job["task"], folder, record, job) if not problems else None), problems


def read_bundle(source: Path, recompute_key, limits: Limits = Limits()) -> VerifiedBundle:
    """``source`` (an archive or a folder) unpacked into a temporary folder and checked whole: names, links and
    sizes, the manifest's format and version, every file's SHA-256, every run's record and key (recomputed by
    ``recompute_key(task, config)``). :class:`BundleRefused` with every reason found, the temporary folder gone."""
    source = Path(source)
    if not source.exists():
        raise BundleRefused(str(source), ["no such file or folder"])
    root = tempfile.TemporaryDirectory(prefix="mixbench-bundle-")
    try:
        unpacked = Path(root.name)
        (_copy_folder if source.is_dir() else _unpack_archive)(source, unpacked, limits)
        manifest, problems = _manifest(unpacked)
        problems = problems or _file_problems(unpacked, manifest)
        runs = []
        for entry in manifest.get("runs", []) if not problems else []:
            scale, key = str(entry.get("scale")), str(entry.get("key"))
            run, found = _run_problems(unpacked / "runs" / scale / key, scale, key, recompute_key)
            problems += found
            runs += [run] if run else []
        if problems:
            raise BundleRefused(str(source), problems)
        digest = sha256_file(source if source.is_file() else unpacked / MANIFEST)
        return VerifiedBundle(source, digest, manifest, runs, root)
    except BaseException:
        root.cleanup()
        raise
