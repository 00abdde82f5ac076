"""Results that travel: a bundle exported at the smoke scale imports into an empty results folder as finished
runs with the same figures; a damaged, edited or hostile bundle is refused with its reasons and writes nothing."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from harness.bundles.layout import MANIFEST, sha256_file
from harness.run_all import main as run_all

from test_orchestrate import tiny_experiments

ROWS = "  - {name: Baseline, method: none}\n  - {name: CutMix, method: cutmix}\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Two finished tiny runs in a results folder, and the bundle exported from it."""
    folder = tmp_path_factory.mktemp("made")
    experiments = tiny_experiments(folder, ROWS, epochs=1)
    common = ["--experiments", str(experiments), "--device", "cpu", "--no-progress", "--jobs", "1"]
    results = folder / "results"
    assert run_all([*common, "--results", str(results), "--reports", str(folder / "reports")]) == 0
    bundle = folder / "tiny.tar.gz"
    assert run_all([*common, "--results", str(results), "--export", str(bundle)]) == 0
    return {"experiments": experiments, "results": results, "bundle": bundle, "common": common}


def unpacked(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def repacked(folder: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = (), name: str = "b.tar.gz") -> Path:
    """A bundle of ``files`` (and hostile ``extra`` members), the manifest's digests left as they are."""
    path = folder / name
    with tarfile.open(path, "w:gz") as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def with_digests(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` with the manifest's SHA-256s fixed up to match them (what an editor who knows the format does)."""
    import hashlib

    manifest = json.loads(files[MANIFEST])
    for run in manifest["runs"]:
        for name in run["files"]:
            run["files"][name] = hashlib.sha256(files[f"runs/{run['scale']}/{run['key']}/{name}"]).hexdigest()
    return {**files, MANIFEST: json.dumps(manifest).encode()}


def test_a_bundle_round_trips_into_an_empty_folder_as_finished_runs_with_the_same_figures(made, tmp_path, capsys):
    files = unpacked(made["bundle"])
    manifest = json.loads(files[MANIFEST])
    assert manifest["format"] == "mixbench-results-bundle" and manifest["version"] == 1 and len(manifest["runs"]) == 2
    run = manifest["runs"][0]
    assert {"record.json", "job.json", "log.csv", "job.log"} <= set(run["files"]) and "best.pt" not in run["files"]
    assert run["identity"]["data_fingerprint"] == run["data_fingerprint"] and run["environment"]["precision"] == "fp32"
    assert all(not name.endswith((".pt", ".npz")) for name in files)  # no weights, no data

    other = tmp_path / "results"
    args = [*made["common"], "--results", str(other), "--reports", str(tmp_path / "reports")]
    assert run_all([*args, "--import", str(made["bundle"]), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "2 imported" in out and out.count("imported  ") == 2 and "left to run: nothing" in out
    assert run_all(args) == 0 and "jobs: 2 cached, 0 run, 0 failed" in capsys.readouterr().out
    for entry in manifest["runs"]:
        here, there = (json.loads((folder / "smoke" / entry["key"] / "record.json").read_text())
                       for folder in (made["results"], other))
        assert here == there
        origin = json.loads((other / "smoke" / entry["key"] / "origin.json").read_text())
        assert origin["bundle_sha256"] == sha256_file(made["bundle"])
    report = (tmp_path / "reports" / "smoke" / "tables.md").read_text()
    assert "tiny.tar.gz" in report  # the provenance names the origin
    assert run_all([*args, "--import", str(made["bundle"]), "--plan"]) == 0
    assert "2 already here" in capsys.readouterr().out


def test_a_folder_bundle_holds_the_archives_files_and_imports_as_it_does(made, tmp_path, capsys):
    """A name without .tar.gz exports a folder (what a repository ships); exported again, it is replaced whole."""
    folder = tmp_path / "shipped" / "mini"
    for _ in range(2):
        assert run_all([*made["common"], "--results", str(made["results"]), "--export", str(folder)]) == 0
    files = {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    archived = unpacked(made["bundle"])
    assert set(files) == set(archived) and sorted(p.name for p in folder.parent.iterdir()) == ["mini"]
    assert all(files[name] == archived[name] for name in files if name != MANIFEST)
    assert run_all([*made["common"], "--results", str(tmp_path / "results"), "--import", str(folder), "--plan"]) == 0
    assert "2 imported" in capsys.readouterr().out


def test_an_edited_figure_with_its_digest_fixed_is_the_makers_word_but_an_edited_configuration_is_refused(made, tmp_path):
    from harness.bundles.importing import import_bundles
    from harness.bundles.layout import BundleRefused

    files = unpacked(made["bundle"])
    record_name = next(name for name in files if name.endswith("record.json"))
    record = json.loads(files[record_name])
    record["best"]["top1_err"] = 1.0  # a better figure: the bundle's maker answers for it, the report names them
    edited = repacked(tmp_path, with_digests({**files, record_name: json.dumps(record).encode()}), name="fig.tar.gz")
    assert "2 imported" in import_bundles([edited], tmp_path / "a")[0]

    job_name = record_name.replace("record.json", "job.json")
    job = json.loads(files[job_name])
    job["config"]["lr"] = 0.5  # another run than its key names
    record["config"]["lr"] = 0.5
    other = repacked(tmp_path, with_digests({**files, job_name: json.dumps(job).encode(),
                                             record_name: json.dumps(record).encode()}), name="cfg.tar.gz")
    with pytest.raises(BundleRefused, match="the key does not match"):
        import_bundles([other], tmp_path / "b")
    assert not (tmp_path / "b").exists()


def hostile(files: dict[str, bytes]) -> dict[str, tuple[dict[str, bytes], list[tarfile.TarInfo], str]]:
    """Each hostile archive: (its files, its extra members, the reason it must be refused with)."""
    record_name = next(name for name in files if name.endswith("record.json"))
    link = tarfile.TarInfo("runs/smoke/0123456789abcdef/record.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    big = tarfile.TarInfo("runs/smoke/0123456789abcdef/job.log")
    big.size = 2 * 2**20
    nan = files[record_name].replace(b'"wall_time_s": ', b'"wall_time_s": NaN, "x": ')
    manifest = json.loads(files[MANIFEST])
    return {
        "traversal": (files, [_file("../outside.json")], "leaves the bundle"),
        "absolute": (files, [_file("/tmp/absolute.json")], "an absolute path"),
        "symlink": (files, [link], "a link"),
        "oversized": (files, [big], "over the 1 MiB"),
        "malformed JSON": (with_digests({**files, record_name: b"{not json"}), [], "not valid JSON"),
        "NaN": (with_digests({**files, record_name: nan}), [], "non-finite number"),
        "wrong version": ({**files, MANIFEST: json.dumps({**manifest, "version": 99}).encode()}, [],
                          "format version 99"),
        "damaged": ({**files, record_name: files[record_name] + b" "}, [], "SHA-256 is not the manifest's"),
    }


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 4
    return info


def test_each_hostile_or_damaged_bundle_is_refused_with_its_reason_and_writes_nothing(made, tmp_path):
    from harness.bundles.importing import import_bundles
    from harness.bundles.layout import BundleRefused, Limits

    for case, (members, extra, reason) in hostile(unpacked(made["bundle"])).items():
        bundle = repacked(tmp_path, members, extra, name=f"{case.replace(' ', '_')}.tar.gz")
        results = tmp_path / case.replace(" ", "_")
        with pytest.raises(BundleRefused) as refused:
            import_bundles([bundle], results, Limits(file_bytes=2**20))
        assert any(reason in line for line in refused.value.reasons), (case, refused.value.reasons)
        assert not results.exists(), case
    assert not Path("/tmp/absolute.json").exists() and not (tmp_path / "outside.json").exists()


def test_a_refused_bundle_exits_2_with_one_line_a_reason(made, tmp_path):
    import subprocess
    import sys

    files = unpacked(made["bundle"])
    record_name = next(name for name in files if name.endswith("record.json"))
    bundle = repacked(tmp_path, {**files, record_name: files[record_name] + b" "}, [_file("../x.json")])
    run = subprocess.run([sys.executable, "run_all.py", *made["common"], "--results", str(tmp_path / "r"),
                          "--import", str(bundle), "--plan"], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and not (tmp_path / "r" / "smoke").exists()
    lines = run.stderr.strip().splitlines()
    assert "bundle refused, nothing written" in lines[0] and any("../x.json" in line for line in lines[1:])


def test_an_imported_run_close_to_a_planned_job_is_named_with_the_field_that_differs(made, tmp_path, capsys):
    args = [*made["common"], "--results", str(tmp_path / "results"), "--import", str(made["bundle"])]
    assert run_all([*args, "--epochs", "2", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "imported runs close to planned jobs" in out and "differs in epochs" in out
    assert "--epochs 1 matches it" in out and "left to run: nothing" not in out


SHIPPED = Path(__file__).resolve().parents[1] / "baselines" / "mini"
JPEG = "60000:f32c1176d5ec0920"  # the JPEG edition of CIFAR-10 the shipped runs were made on (test_keys.py)


@pytest.mark.skipif(not (SHIPPED / MANIFEST).is_file(), reason="no shipped mini runs yet (docs/evidence.md)")
def test_the_shipped_mini_runs_import_and_a_candidates_plan_runs_only_what_they_lack(tmp_path):
    """baselines/mini (the evidence runs) imports whole, and a candidate's mini plan on the same data holds as
    finished every row and seed the bundle has: what is left to run is the candidate's and the seeds not shipped."""
    from unittest import mock

    import harness.fingerprint
    from harness.bundles.importing import import_bundles
    from harness.plan import load_catalog, make_plan
    from harness.run_all import parse_args

    shipped = {(cell[1], cell[2]): run["key"] for run in json.loads((SHIPPED / MANIFEST).read_text())["runs"]
               for cell in run["cells"]}
    assert import_bundles([SHIPPED], tmp_path)[0].endswith(f"{len(set(shipped.values()))} imported")
    args = parse_args(["--scale", "mini", "--tables", "7", "--precision", "fp32", "--device", "cpu", "--results",
                       str(tmp_path), "--candidate", "X=cutmix:prob=0.3", "--seeds", "0", "1", "2"])
    with mock.patch.object(harness.fingerprint, "_fingerprint", lambda dataset, root: f"{dataset}:{JPEG}"):
        jobs = make_plan(args, *load_catalog(args)).jobs
    for job in jobs:
        (_, row, seed), = job.cells
        assert (job.status() == "finished") == ((row, seed) in shipped), (row, seed)
        assert job.status() != "finished" or job.key == shipped[(row, seed)]
    assert {job.cells[0][1] for job in jobs if job.status() != "finished"} >= {"X"}
