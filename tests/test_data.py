"""Loaders: the generated data set, CIFAR and ImageNet (real subsets when ../shared/data is present)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data import build_datasets
from harness.data.synthetic import CLASSES, SyntheticSpec, generate
from harness.errors import DataNotFoundError, HarnessError, UnknownNameError
from tests.conftest import cifar10_first_images, shared


def test_synthetic_is_deterministic_and_annotated(tmp_path):
    spec = SyntheticSpec(image_size=32, train_per_class=3, val_per_class=1, seed=7)
    a, b = generate(tmp_path / "a", spec), generate(tmp_path / "b", spec)
    assert (a / "annotations.csv").read_text() == (b / "annotations.csv").read_text()
    for path in sorted(a.glob("train/*/*.png")):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(b / path.relative_to(a))))
    other = generate(tmp_path / "c", SyntheticSpec(image_size=32, train_per_class=3, val_per_class=1, seed=8))
    assert (other / "annotations.csv").read_text() != (a / "annotations.csv").read_text()


def test_synthetic_bundle(data_root):
    data = build_datasets("synthetic", data_root, image_size=32)
    assert data.num_classes == 10 and len(data.train) == 1200 and len(data.test) == 400
    image, label = data.test[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert data.test.classes == list(CLASSES)
    boxes = data.train.boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 32**2
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    assert (boxes >= 0).all() and (boxes <= 32).all()
    assert 0.05 < area.mean() < 0.5 and area.max() < 0.8  # the object covers only part of the image
    assert CLASSES[label] in data.test.captions[0]
    counts = torch.bincount(torch.tensor(data.train.targets), minlength=10)
    assert (counts == 120).all()


def test_missing_data_raises_one_clear_error(tmp_path):
    for name in ("cifar10", "cifar100", "imagenet"):
        with pytest.raises(DataNotFoundError, match=str(tmp_path)):
            build_datasets(name, tmp_path)
    with pytest.raises(UnknownNameError, match="unknown data set 'mnist'"):
        build_datasets("mnist", tmp_path)


def test_missing_data_on_the_command_line_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "harness.train", "--dataset", "cifar100", "--data-root", str(tmp_path), "--epochs", "1"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cifar100 not found" in lines[0]


@pytest.mark.shared_data
@pytest.mark.parametrize("name, folder, train, test, classes", [
    ("cifar10", "cifar10", 2119, 1017, 10), ("cifar100", "cifar100", 486, 916, 100),
])
def test_real_cifar_subsets(name, folder, train, test, classes):
    data = build_datasets(name, shared(folder))
    assert (len(data.train), len(data.test), data.num_classes) == (train, test, classes)
    image, label = data.test[0]
    assert image.shape == (3, 32, 32) and 0 <= label < classes
    if name == "cifar10":
        assert data.test.classes[label] == "cat"  # the well-known first CIFAR-10 test image
        raw = np.load(shared(folder) / "cifar10_subset.npz")["x_test"][0]
        assert np.array_equal(data.test.data[0], raw)


@pytest.mark.shared_data
def test_real_imagenet_val_images(tmp_path):
    """ImageNet's layout: an ImageFolder train/ tree and a flat val/ with val_labels.txt (real JPEGs)."""
    source = shared("imagenet_val_loc")
    lines = (source / "val_labels.txt").read_text().splitlines()[:40]
    (tmp_path / "val").mkdir()
    for line in lines:
        name, label = line.split()
        (tmp_path / "val" / name).symlink_to(source / "images" / name)
        (tmp_path / "train" / f"n{int(label):08d}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "train" / f"n{int(label):08d}" / name).symlink_to(source / "images" / name)
    (tmp_path / "val_labels.txt").write_text("\n".join(lines) + "\n")
    data = build_datasets("imagenet", tmp_path)
    assert len(data.test) == 40 and len(data.train) == 40
    image, label = data.test[0]
    assert image.shape == (3, 224, 224) and label == int(lines[0].split()[1])
    train_image, _ = data.train[0]
    assert train_image.shape == (3, 224, 224)


def test_balanced_subset_is_fixed_and_balanced():
    from harness.data import balanced_subset
    from harness.data.cifar import ArrayImageDataset

    labels = np.repeat(np.arange(10), [30, 40, 50, 60, 70, 80, 90, 100, 110, 120])
    dataset = ArrayImageDataset(np.zeros((len(labels), 2, 2, 3), np.uint8), labels, [str(i) for i in range(10)])
    subset = balanced_subset(dataset, 200)
    assert np.bincount(labels[subset.indices], minlength=10).tolist() == [20] * 10
    assert subset.indices == balanced_subset(dataset, 200).indices  # the same images for every run
    assert balanced_subset(dataset, 10_000) is dataset
    with pytest.raises(HarnessError, match=r"needs 35 of each class.*0 \(30\)"):
        balanced_subset(dataset, 350)  # class 0 has 30 images


def test_a_subset_smaller_than_the_classes_takes_one_image_of_that_many_classes_and_keeps_the_sets_answers():
    from harness.data import Selection, balanced_subset, with_transform
    from harness.data.cifar import ArrayImageDataset

    labels = np.repeat(np.arange(10), 3)
    dataset = ArrayImageDataset(np.zeros((30, 2, 2, 3), np.uint8), labels, [str(i) for i in range(10)], transform="t")
    subset = balanced_subset(dataset, 4)
    assert isinstance(subset, Selection) and len(subset) == 4 and len(set(subset.targets)) == 4
    assert subset.targets == labels[subset.indices].tolist() and subset.transform == "t"
    assert subset.indices == balanced_subset(dataset, 4).indices
    changed = with_transform(subset, "u")
    assert isinstance(changed, Selection) and changed.transform == "u" and changed.indices == subset.indices


def test_cifar10_never_takes_the_cifar100_file_beside_it(tmp_path):
    from harness.data.cifar import load_cifar

    def save(name, labels):
        images = np.zeros((len(labels), 32, 32, 3), np.uint8)
        np.savez(tmp_path / name, x_train=images, y_train=labels, x_test=images, y_test=labels)

    save("cifar100_subset.npz", np.arange(100) % 100)  # sorts before cifar10_subset.npz
    with pytest.raises(DataNotFoundError, match="cifar10 not found"):
        load_cifar("cifar10", tmp_path, True)
    save("cifar10_subset.npz", np.arange(20) % 10)
    assert len(load_cifar("cifar10", tmp_path, True)) == 20
    assert len(load_cifar("cifar100", tmp_path, True)) == 100
    (tmp_path / "cifar10_subset.npz").unlink()
    np.savez(tmp_path / "cifar10_a.npz", x_train=np.zeros((3, 32, 32, 3), np.uint8), y_train=np.array([0, 1, 99]),
             x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=np.array([0]))
    with pytest.raises(DataNotFoundError, match="labels 0..99, not cifar10's 0..9"):
        load_cifar("cifar10", tmp_path, True)


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
@pytest.mark.shared_data
def test_mini_protocol_runs_an_epoch_on_real_cifar10(tmp_path):
    root = cifar10_first_images(tmp_path / "cifar10", train_per_class=210, test_per_class=30)
    result = subprocess.run(
        [sys.executable, "run_all.py", "--scale", "mini", "--tables", "7", "--methods", "cutmix", "--seeds", "0",
         "--epochs", "1", "--data-root", str(root), "--results", str(tmp_path / "results"), "--reports",
         str(tmp_path / "reports"), "--no-progress"], cwd=Path(__file__).resolve().parents[1], capture_output=True,
        text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(next((tmp_path / "results" / "mini").glob("*/record.json")).read_text())
    assert record["config"]["model"] == "resnet20_cifar" and record["config"]["dataset"] == "cifar10"
    assert (record["train_size"], record["test_size"]) == (2000, 300)  # 200 of each class's 210 training images
    markdown = (tmp_path / "reports" / "mini" / "tables.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| CutMix |"))
    assert "MINI SCALE" in markdown and f"| {record['best']['top1_err']:.2f} (n=1) |" in row  # the record's figure


@pytest.fixture(scope="session")
def cifar10_jpeg(tmp_path_factory) -> Path:
    """The JPEG edition of all of CIFAR-10 (../shared), extracted once per session."""
    import tarfile

    archive = shared("cifar10_jpeg") / "cifar10_jpeg.tar.gz"
    folder = tmp_path_factory.mktemp("cifar10_jpeg")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
@pytest.mark.shared_data
def test_cifar10_from_class_folders_decodes_once_into_the_official_images(cifar10_jpeg, tmp_path, monkeypatch):
    from harness.data.cifar import decoded_cache, load_cifar, locate_cifar

    monkeypatch.setenv("MIXBENCH_CACHE", str(tmp_path / "cache"))
    assert locate_cifar("cifar10", cifar10_jpeg).kind == "folders"
    train, test = load_cifar("cifar10", cifar10_jpeg, True), load_cifar("cifar10", cifar10_jpeg, False)
    assert (len(train), len(test)) == (50_000, 10_000) and train.data.shape[1:] == (32, 32, 3)
    assert np.bincount(test.targets).tolist() == [1000] * 10 and train.classes[:2] == ["airplane", "automobile"]
    cached = list(decoded_cache().glob("cifar10-*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    load_cifar("cifar10", cifar10_jpeg, False)  # the second time: the cached arrays, not the images
    assert cached[0].stat().st_mtime_ns == stamp
    # test/cat/0000.jpg is the official first test image (a cat), within JPEG's error of the exact pixels
    exact = np.load(shared("cifar10") / "cifar10_subset.npz")
    first_cat = test.data[np.flatnonzero(np.asarray(test.targets) == 3)[0]].astype(float)
    assert exact["y_test"][0] == 3 and np.abs(first_cat - exact["x_test"][0]).mean() < 12


def test_class_folders_missing_a_class_or_split_are_named(tmp_path):
    from harness.data.cifar import locate_cifar

    for split in ("train", "test"):
        for c in range(9):
            (tmp_path / split / f"class{c}").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="class folders train/<class>/ and test/<class>/ of images, 10 classes"):
        locate_cifar("cifar10", tmp_path)


def class_folders(root: Path, per_class: dict[str, int]) -> None:
    """CIFAR-10 as class folders of (empty) .jpg files: --check-data counts files by name and opens none."""
    for split, count in per_class.items():
        for label in range(10):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(count):
                (folder / f"{index:05d}.jpg").touch()


def check_data(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_all.py", "--check-data", *args], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)


def test_check_data_names_each_data_set_its_folder_state_and_counts(tmp_path):
    class_folders(tmp_path / "cifar10", {"train": 300, "test": 1000})
    found = check_data("--scale", "mini", "--tables", "7", "--data-root", str(tmp_path))
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"data root: {tmp_path} (from --data-root); mini scale" in found.stdout
    line = next(l for l in found.stdout.splitlines() if l.startswith("cifar10 "))
    assert " found " in line and "train 3,000 (≥ 2,000), test 10,000 (≥ 10,000)" in line and "[T7_cifar10_pyr200]" in line
    wrong = check_data("--scale", "mini", "--tables", "7", "--data-root", str(tmp_path / "nowhere"))
    assert wrong.returncode == 1 and " missing " in wrong.stdout and "not usable: cifar10" in wrong.stderr
    generated = check_data("--tables", "7", "12")
    assert generated.returncode == 0 and "synthetic " in generated.stdout and "ood_generated" in generated.stdout


def test_a_class_short_of_the_balanced_subset_stops_the_run_before_any_job(tmp_path, capsys):
    """Class folders with 300 training images a class but 150 in class3: --check-data names the class, and the
    run stops with that line (exit 2) where its job would have failed at its start."""
    class_folders(tmp_path / "cifar10", {"train": 300, "test": 1000})
    for extra in sorted((tmp_path / "cifar10" / "train" / "class3").iterdir())[150:]:
        extra.unlink()
    from harness.errors import HarnessError
    from harness.run_all import main

    where = ["--scale", "mini", "--tables", "7", "--data-root", str(tmp_path), "--results", str(tmp_path / "r"),
             "--reports", str(tmp_path / "p")]
    assert main([*where, "--check-data"]) == 1
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("cifar10 "))
    assert " unusable " in line and "needs 200 of each class; below that: class3 (150)" in line
    with pytest.raises(HarnessError, match=r"nothing run:\n.*below that: class3 \(150\)"):
        main(where)  # the command line prints it as one error and exits 2
    assert not (tmp_path / "r" / "mini").exists()


@pytest.mark.parametrize("labels_key", ["y_train", "y_train_fine"])
def test_the_subset_check_says_unusable_exactly_where_the_subset_draw_refuses(tmp_path, labels_key):
    """The check's rule is the draw's: a set no larger than the subset is used whole, otherwise each class needs its
    share; CIFAR-100's arrays hold fine labels. Judged against `balanced_subset` itself on the same labels."""
    from harness.data import balanced_subset
    from harness.data.cifar import ArrayImageDataset
    from harness.data_check import subset_problem

    name = "cifar100" if labels_key == "y_train_fine" else "cifar10"
    classes = 100 if name == "cifar100" else 10
    rng = np.random.default_rng(0)
    short_class = np.r_[np.repeat(np.delete(np.arange(classes), 3), 50), np.full(20, 3)]  # class 3: 20, others 50
    cases = [(2000, np.repeat(np.arange(classes), 12), False),  # 120 or 1,200 images: used whole
             (200, np.repeat(np.arange(classes), 30), False),  # enough of each class
             (400, short_class, classes == 10)]  # CIFAR-10 needs 40 of each, class 3 has 20; CIFAR-100 needs 4
    for size, labels, expected in cases:
        labels = rng.permutation(labels)
        np.savez(tmp_path / f"{name}.npz", x_train=np.zeros((len(labels), 2, 2, 3), np.uint8), **{labels_key: labels},
                 x_test=np.zeros((1, 2, 2, 3), np.uint8), **{labels_key.replace("train", "test"): labels[:1]})
        problem = subset_problem(name, tmp_path, {"train_subset": size})
        try:
            balanced_subset(ArrayImageDataset(np.zeros((len(labels), 2, 2, 3), np.uint8), labels, [], None), size)
            refused = False
        except HarnessError:
            refused = True
        assert bool(problem) == refused == expected, (size, problem)
    assert problem == ("the protocol's class-balanced subset of 400 training images needs 40 of each class; "
                       "below that: 3 (20)") if classes == 10 else problem == ""


def test_an_experiments_folder_without_protocols_says_what_it_must_hold(tmp_path):
    result = subprocess.run([sys.executable, "run_all.py", "--experiments", str(tmp_path), "--plan"],
                            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no protocols.yaml and no tables/ there" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.shared_data
def test_check_data_says_a_subset_is_incomplete(tmp_path):
    result = check_data("--scale", "mini", "--tables", "7", "--data-root", str(shared("cifar10")))
    line = next(l for l in result.stdout.splitlines() if l.startswith("cifar10 "))
    assert result.returncode == 1 and " unusable " in line and "train 2,119 (≥ 2,000), test 1,017 (≥ 10,000)" in line
    assert "needs 200 of each class; below that: 2 (192), 5 (191)" in line  # the two short classes of the subset
    rehearsal = check_data("--scale", "rehearsal", "--tables", "7", "--data-root", str(shared("cifar10")))
    line = next(l for l in rehearsal.stdout.splitlines() if l.startswith("cifar10 "))  # a part of each split will do
    assert rehearsal.returncode == 0 and " found " in line and "train 2,119 (≥ 1), test 1,017 (≥ 1)" in line
    run = subprocess.run([sys.executable, "run_all.py", "--scale", "mini", "--tables", "7", "--data-root",
                          str(tmp_path / "nowhere"), "--results", str(tmp_path / "r"), "--reports", str(tmp_path / "p")],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "run_all.py --check-data lists every data set" in run.stderr


def test_each_data_set_is_found_in_its_own_folder_or_where_data_says(tmp_path):
    from harness.paths import dataset_folder

    from conftest import make_study

    (tmp_path / "CUB_200_2011").mkdir()
    assert dataset_folder("cub", tmp_path) == (tmp_path, "the data root")  # not there yet: the flat layout
    (tmp_path / "CUB_200_2011" / "images.txt").touch()
    assert dataset_folder("cub", tmp_path) == (tmp_path / "CUB_200_2011", "CUB_200_2011/ under the data root")
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    assert dataset_folder("imagenet", tmp_path)[0] == tmp_path / "imagenet"
    assert dataset_folder("cub", tmp_path, {"cub": "/datasets/cub"}) == (Path("/datasets/cub"), "--data")
    study = make_study([], {}, "smoke", tmp_path / "results", data_root=str(tmp_path))
    assert study.data_folder("voc") == str(tmp_path)  # VOCdevkit/ is found under it


@pytest.mark.shared_data
def test_a_plan_reads_cub_where_it_is_and_its_fingerprint_follows(tmp_path):
    from harness.run_all import parse_args
    from harness.plan import load_catalog, make_plan

    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "CUB_200_2011").symlink_to(shared("cub_like_birds/CUB_200_2011"), target_is_directory=True)
    configs = []
    for extra in (["--data-root", str(tmp_path / "root")], ["--data", f"cub={shared('cub_like_birds/CUB_200_2011')}"]):
        args = parse_args(["--scale", "paper", "--tables", "9", "--rows", "ResNet-50+CutMix", "--plan",
                           "--results", str(tmp_path / "results"), *extra])
        plan = make_plan(args, *load_catalog(args))
        configs += [j.config["train"] for j in plan.jobs if j.cells[0][0] == "T9_wsol_cub"]
    conventional, given = configs
    assert conventional["data_root"].endswith("CUB_200_2011") and given["data_root"].endswith("CUB_200_2011")
    assert conventional["data_fingerprint"] == given["data_fingerprint"] != "cub:missing"
    assert conventional["data_fingerprint"].startswith("cub:")
