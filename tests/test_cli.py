"""The commands a user types: bad input gives one line naming the problem and the fix, exit status 2, and
touches nothing; every installed console script starts; --list, --methods and --rows, --help and the exit status
of a machine without Java do what their help says."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_all(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    isolation = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args, *isolation], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120, env=env)


def assert_refused(result: subprocess.CompletedProcess, tmp_path: Path, *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("mixbench: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "reports").exists()


def test_unknown_method_is_refused(tmp_path):
    result = run_all(tmp_path, "--tables", "5", "--methods", "nosuchmethod")
    assert_refused(result, tmp_path, "--methods nosuchmethod", "cutmix")


@pytest.mark.parametrize("flag, value", [("--jobs", "0"), ("--jobs", "-3"), ("--epochs", "0"), ("--workers", "-1"),
                                         ("--gpus-per-job", "0")])
def test_impossible_counts_are_refused(tmp_path, flag, value):
    assert_refused(run_all(tmp_path, flag, value), tmp_path, f"{flag} must be at least")


def test_slurm_flags_are_checked_before_anything_is_written(tmp_path):
    assert_refused(run_all(tmp_path, "--tables", "7", "--slurm-local"), tmp_path, "--slurm-local goes with --executor slurm")
    profile = tmp_path / "cluster.yaml"
    profile.write_text("partition: gpu\ntime: 60\n")
    result = run_all(tmp_path, "--tables", "7", "--executor", "slurm", "--slurm-profile", str(profile))
    assert_refused(result, tmp_path, "cluster.yaml: unknown setting(s) time", "time_min")
    if shutil.which("srun") is None:  # this machine is no Slurm login node: the error says how to try it here
        assert_refused(run_all(tmp_path, "--tables", "7", "--executor", "slurm"), tmp_path, "--slurm-local")


def test_plugin_with_a_syntax_error_names_its_line(tmp_path):
    plugin = tmp_path / "broken_mix.py"
    plugin.write_text("from harness.augment import register\n\ndef oops(:\n    pass\n")
    result = run_all(tmp_path, "--plugin", str(plugin), "--tables", "7")
    assert_refused(result, tmp_path, "broken_mix.py, line 3", "fix the file")


def test_plugin_that_raises_on_import_names_its_line(tmp_path):
    plugin = tmp_path / "raising_mix.py"
    plugin.write_text("import harness\n\nraise ValueError('no such thing')\n")
    result = run_all(tmp_path, "--plugin", str(plugin), "--tables", "7")
    assert_refused(result, tmp_path, "raising_mix.py, line 3", "ValueError: no such thing")


def test_malformed_yaml_table_names_file_and_line(tmp_path):
    experiments = tmp_path / "experiments"
    shutil.copytree(ROOT / "experiments", experiments)
    (experiments / "tables" / "t7_cifar10_pyr200.yaml").write_text("id: T7_broken\nrows:\n  - {name: A, method: none\n  - x: [\n")
    result = run_all(tmp_path, "--experiments", str(experiments))
    assert_refused(result, tmp_path, "t7_cifar10_pyr200.yaml: line ", "invalid YAML")


def test_missing_real_data_stops_before_any_job(tmp_path):
    result = run_all(tmp_path, "--scale", "reduced", "--data-root", str(tmp_path / "nonexistent"), "--tables", "5")
    assert_refused(result, tmp_path, "cifar100 not found under", "nonexistent", "put torchvision's")


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml, read as text (no tomllib on Python 3.10, which is supported)."""
    import re

    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, re.MULTILINE))


@pytest.mark.parametrize("name", sorted(console_scripts()))
def test_every_console_script_resolves_and_starts(name):
    module, _, attribute = console_scripts()[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    installed = Path(sys.executable).parent / name
    assert installed.is_file(), f"{installed} missing: run `make setup` (pip install -e .) after changing pyproject.toml"
    result = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def readme_lines() -> list[str]:
    """The lines of the README and of the docs pages beside it (the reference moved there from the README)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [line for page in pages for line in page.read_text().splitlines()]


def test_every_run_all_flag_the_readme_names_is_accepted():
    """Flags on README and docs lines about run_all.py (its command lines and its Flags: paragraphs)."""
    import re

    from harness.run_all import build_parser

    lines, named = readme_lines(), set()
    for index, line in enumerate(lines):
        about_run_all = "run_all.py" in line or any(l.startswith("Flags:") for l in lines[max(0, index - 2):index + 1])
        if about_run_all:
            named |= set(re.findall(r"(--[a-z][a-z0-9-]*[a-z0-9])(?![-*a-z])", line))
    known = set(build_parser()._option_string_actions)
    assert {"--download", "--gpus-per-job", "--slurm-local"} <= named  # the scan finds what it should
    assert named - known == set(), f"README names flags run_all.py does not take: {sorted(named - known)}"


def test_every_spec_key_the_readme_names_is_accepted_and_gpus_and_sync_bn_take_effect(tmp_path):
    import re

    from harness.experiments import ROW_KEYS, SCALE_KEYS, TABLE_KEYS, load_protocols, load_table
    from conftest import expand_tables
    from test_orchestrate import TINY, write_table

    named = {m.group(1) for line in readme_lines() for m in re.finditer(r"`([a-z_]+): [\w./]+`", line)}  # `key: value`
    assert {"gpus", "sync_bn", "backbone"} <= named
    assert named - (SCALE_KEYS | ROW_KEYS | TABLE_KEYS) == set()
    import yaml

    (tmp_path / "protocols.yaml").write_text(yaml.safe_dump({"tiny": {"smoke": dict(TINY["tiny"]["smoke"], gpus=2, sync_bn=True)}}))
    protocols = load_protocols(tmp_path / "protocols.yaml")
    table = load_table(write_table(tmp_path, "  - {name: Baseline, method: none}\n"), protocols)
    job = expand_tables([table], protocols, "smoke", tmp_path / "results")[0][0]
    assert (job.config["world_size"], job.config["sync_bn"], job.processes) == (2, True, 2)


def test_the_main_job_benchmark_fails_on_a_run_that_failed(tmp_path):
    """A run that exits early (no Java, a bad flag) must not read as "within budget"."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "main_job.py"), "--keep", str(tmp_path), "--",
                             "--tables", "nosuchtable"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode != 0 and "main job FAILED: run_all.py exited {'from nothing': 2, 'cached': 2}" in result.stderr
    assert json.loads((tmp_path / "main_job.json").read_text())["exit_status"] == {"from nothing": 2, "cached": 2}


def test_list_prints_tables_rows_methods_parameters_scales_and_data_sets_and_writes_nothing(tmp_path):
    every = run_all(tmp_path, "--list")
    assert every.returncode == 0, every.stderr
    lines = every.stdout.splitlines()
    assert "T5_cifar100_pyr200  Table 5: CIFAR-100 classification, PyramidNet-200 (alpha=240)  [smoke, rehearsal, mini, reduced, paper]" in lines
    assert "    CutMix+ShakeDrop             cutmix, shakedrop_rate=0.5" in lines
    assert "    VGG-GAP+ACoL*     acol, model vgg16_gap, from T9b_imagenet_vgg_gap/VGG-GAP Baseline" in lines
    cutmix = lines.index("cutmix  CutMix (Yun et al., ICCV 2019), exactly as the paper and its official code.")
    assert lines[cutmix + 1] == "    parameters: alpha=1.0, mode='batch', prob=1.0, label_smoothing=0.0"
    assert "    parameters: sigma=0.25, alpha=1.0, mode='batch', prob=1.0, label_smoothing=0.0" in lines  # its own, then its bases'
    assert [line.split()[0] for line in lines if line.startswith(("smoke ", "rehearsal ", "mini ", "reduced ", "paper "))] == \
        ["smoke", "rehearsal", "mini", "reduced", "paper"]
    assert any(line.startswith("cifar100 ") and "real, --download fetches it; rehearsal, mini, reduced, paper: T5_cifar100_pyr200" in line
               for line in lines)
    assert not (tmp_path / "results").exists() and not (tmp_path / "reports").exists()
    methods = run_all(tmp_path, "--list", "methods")
    assert methods.stdout.startswith("methods (") and "tables (" not in methods.stdout and "\nscales (" not in methods.stdout


def test_a_reader_that_stops_early_gets_no_traceback():
    """``run_all.py --list | head -1``: the closed pipe ends the command quietly."""
    listing = subprocess.Popen([sys.executable, "run_all.py", "--list"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    listing.stdout.close()  # before it writes a line (it imports for longer than this takes)
    errors = listing.stderr.read().decode()
    assert listing.wait(timeout=60) == 141 and "Traceback" not in errors, errors


def test_list_and_planning_import_no_torch():
    code = ("import sys; from harness.run_all import main; main(['--list']); main(['--tables', '7', '--plan']); "
            "print('torch imported' if 'torch' in sys.modules else 'no torch')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.splitlines()[-1] == "no torch", result.stderr


def test_methods_select_rows_by_method_and_rows_by_name():
    from harness.errors import HarnessError
    from harness.experiments import load_tables, select_rows, select_tables

    catalog = load_tables()
    t5, t7 = select_tables(catalog, ["5", "7"])
    by_method = select_rows([t5], ["cutmix", "NONE"], None)
    assert {row for _, row in by_method} == {"Baseline", "StochDepth", "Label smoothing 0.1", "DropBlock", "DropBlock+LS",
                                            "ShakeDrop", "CutMix", "CutMix+ShakeDrop"}  # every row of those methods
    assert select_rows([t5, t7], None, ["baseline", "CutMix"]) == {
        (t5.id, "Baseline"), (t5.id, "CutMix"), (t7.id, "Baseline"), (t7.id, "CutMix")}
    assert select_rows([t5], ["cutmix"], ["CutMix", "Baseline"]) == {(t5.id, "CutMix")}  # both select
    assert select_rows([t5], [], None) is None
    with pytest.raises(HarnessError, match=r"--methods Baseline: no row .* has this method \(their methods: cutmix, .*"
                                           r"--rows selects rows by name\)"):
        select_rows([t5], ["Baseline"], None)
    with pytest.raises(HarnessError, match=r"--rows Nope: no row of the selected tables is named so \(their rows: "
                                           r"Baseline, CutMix, Cutout, Manifold Mixup a=1.0, Mixup a=1.0\)"):
        select_rows([t7], None, ["Nope"])


def test_rows_selects_baseline_against_cutmix_and_an_unknown_row_is_refused(tmp_path):
    plan = run_all(tmp_path, "--tables", "5", "7", "--rows", "Baseline", "CutMix", "--plan")
    assert plan.returncode == 0, plan.stderr
    job_lines = [line for line in plan.stdout.splitlines() if line.startswith("pending")]
    assert {line.split()[5] for line in job_lines} == {"none", "cutmix"}  # status, key, cost, unit, model, method
    assert all(line.endswith(("/Baseline", "/CutMix")) for line in job_lines), job_lines
    assert_refused(run_all(tmp_path, "--tables", "7", "--rows", "Nope"), tmp_path, "--rows Nope", "Mixup a=1.0")


def test_help_gives_every_flag_a_text_and_its_default_and_its_examples_parse():
    import argparse
    import shlex

    from harness.cli import HelpFormatter
    from harness.run_all import build_parser, parse_args

    parser = build_parser()
    formatter = HelpFormatter("run_all.py")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.option_strings} has no help"
        has_default = action.default is not None and action.default is not False and action.default != []
        assert not has_default or "(default: " in formatter._get_help_string(action), action.option_strings
    epilog = parser.epilog.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    examples = [shlex.split(line.split("#")[0].replace("%(prog)s", ""))
                for line in epilog.splitlines()]
    assert len(examples) >= 5
    for example in examples:
        parse_args(example)  # every example is a valid command line
    assert "3 every job this machine can run ran" in " ".join(parser.epilog.split())


def test_run_all_and_train_share_flag_names_and_choices():
    from harness.run_all import build_parser as run_all_parser
    from harness.train.__main__ import build_parser as train_parser

    ours, theirs = (parser._option_string_actions for parser in (run_all_parser(), train_parser()))
    shared = set(ours) & set(theirs) - {"-h", "--help"}
    assert {"--data-root", "--download", "--device", "--plugin", "--epochs", "--compile", "--workers",
            "--input-pipeline", "--no-progress"} <= shared
    for flag in shared:
        assert ours[flag].choices == theirs[flag].choices, flag
    assert tuple(ours["--input-pipeline"].choices) == ("auto", "loader", "device")


def test_the_device_pipeline_forced_where_it_cannot_run_is_refused_at_plan_time(tmp_path):
    result = run_all(tmp_path, "--scale", "reduced", "--tables", "3", "--input-pipeline", "device", "--plan",
                     "--data-root", str(tmp_path / "nodata"))
    assert_refused(result, tmp_path, "the device input pipeline runs one process", "this run: imagenet")


def path_without(program: str, folder: Path) -> str:
    """``$PATH`` with ``program`` taken off: each folder that holds it stands in as links to all else it holds."""
    entries = []
    for index, entry in enumerate(Path(p) for p in os.environ["PATH"].split(os.pathsep) if p):
        if not (entry / program).exists():
            entries.append(str(entry))
            continue
        shadow = folder / f"path{index}"
        shadow.mkdir(parents=True)
        for item in entry.iterdir():
            if item.name != program:
                (shadow / item.name).symlink_to(item)
        entries.append(str(shadow))
    path = os.pathsep.join(entries)
    assert shutil.which(program, path=path) is None
    return path


NO_JAVA = "needs a Java runtime: apt install default-jre-headless"


def test_without_java_the_plan_leaves_the_captioning_jobs_out_and_keeps_the_others(tmp_path):
    env = {**os.environ, "PATH": path_without("java", tmp_path / "bin")}
    plan = run_all(tmp_path, "--tables", "10", "--plan", env=env)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert [line.split()[-1] for line in lines if line.startswith("pending") and "(needed by" not in line] == \
        [f"T10_det_{kind}/{row}" for kind in ("faster_rcnn", "ssd") for row in ("Baseline", "Mixup", "Cutout", "CutMix")]
    upstream = [line for line in lines if "(needed by" in line]  # Table 3's runs the detectors start from
    assert len(upstream) == 4 and all(line.endswith("(needed by T10_det_faster_rcnn, T10_det_ssd)") or
                                      line.endswith("(needed by T10_det_ssd, T10_det_faster_rcnn)") for line in upstream)
    assert [line.split(None, 2)[-1] for line in lines if "T10_caption_nic/" in line] == \
        [f"T10_caption_nic/{row}: {NO_JAVA}" for row in ("Baseline", "Mixup", "Cutout", "CutMix")]
    assert lines[-1] == f"left out on this machine: 4 job(s) of T10_caption_nic ({NO_JAVA})"


def report_status(markdown: str, heading: str, row: str) -> str:
    """The Status cell of ``row`` in the section of tables.md whose heading starts with ``heading``."""
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return next(line for line in section.splitlines() if line.startswith(f"| {row} |")).rstrip(" |").rsplit("| ", 1)[1]


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_without_java_the_captioning_rows_say_why_every_other_job_runs_and_the_exit_status_is_3(tmp_path):
    """A row not run at the scale (here T7's at a smoke scale restricted to its Baseline) is no environment gap:
    with Java's rows left out, the exit status is 3; without them, 0."""
    import yaml

    experiments = tmp_path / "experiments"
    shutil.copytree(ROOT / "experiments", experiments)
    protocols = yaml.safe_load((experiments / "protocols.yaml").read_text())
    protocols["cifar10"]["smoke"]["rows"] = ["Baseline"]
    (experiments / "protocols.yaml").write_text(yaml.safe_dump(protocols))
    flags = ("--experiments", str(experiments), "--epochs", "1", "--seeds", "0")
    env = {**os.environ, "PATH": path_without("java", tmp_path / "bin")}
    result = run_all(tmp_path, "--tables", "7", "A1", *flags, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == (f"mixbench: not run: 4 job(s) of TA1_caption ({NO_JAVA}); every other "
                                              "job ran: exit status 3")
    assert len(list((tmp_path / "results" / "smoke").glob("*/record.json"))) == 1  # T7's Baseline ran
    markdown = next((tmp_path / "reports").rglob("tables.md")).read_text()
    assert report_status(markdown, "Table 7:", "Baseline").startswith("ok")
    assert report_status(markdown, "Table 7:", "CutMix") == "not run at smoke scale (it runs Baseline)"
    assert [report_status(markdown, "Table A1:", row) for row in ("Baseline", "Mixup", "Cutout", "CutMix")] == [NO_JAVA] * 4
    cached = run_all(tmp_path, "--tables", "7", *flags, env=env)
    assert cached.returncode == 0 and "1 cached, 0 run, 0 failed" in cached.stdout, cached.stdout + cached.stderr


def test_loader_workers_auto_take_the_job_s_cpu_share_less_one(monkeypatch, tmp_path, capsys):
    import argparse

    from harness.devices import AUTO_WORKERS, loader_workers, parse_workers
    from harness.errors import HarnessError
    from harness.run_all import main

    assert parse_workers("auto") == AUTO_WORKERS and parse_workers("3") == 3
    with pytest.raises(argparse.ArgumentTypeError):
        parse_workers("two")
    with pytest.raises(HarnessError, match="--workers must be at least 0"):
        parse_workers("-2")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # what the executor gives a job: its share of the CPUs
    assert loader_workers(AUTO_WORKERS) == 7 and loader_workers(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert loader_workers(AUTO_WORKERS) == 0
    results = ["--results", str(tmp_path / "results")]
    assert main(["--scale", "paper", "--tables", "3", "--plan", "--jobs", "1", *results]) == 0
    cpus = len(os.sched_getaffinity(0))
    assert f"loader workers: auto: {cpus - 1} per job here ({cpus} CPUs shared by 1 jobs" in capsys.readouterr().out
    assert main(["--tables", "7", "--plan", *results]) == 0  # the device pipeline: no DataLoader, no line
    assert "loader workers" not in capsys.readouterr().out
