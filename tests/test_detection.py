"""Detection transfer: checkpoint conversion, the VOC07 metric, the VOC layout (generated and real), and a
short MMDetection fine-tune that writes a record."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import mmdet  # noqa: F401  (installed by the README's set-up: a broken install must fail these tests, not skip them)

from harness.data.synthetic import CLASSES  # noqa: E402
from harness.data.voc import VOC_CLASSES, check_voc, image_ids, read_annotation  # noqa: E402
from harness.data.voc_synthetic import VocSyntheticSpec, generate_voc  # noqa: E402
from harness.detection.config import build_config, voc_splits  # noqa: E402
from harness.detection.convert import assert_loaded, backbone_keys, timm_to_detector, write_detector_checkpoint  # noqa: E402
from harness.detection.metric import voc07_map  # noqa: E402
from harness.errors import DataNotFoundError, HarnessError  # noqa: E402
from harness.models import create_model  # noqa: E402
from harness.paths import EXPERIMENTS  # noqa: E402
from tests.conftest import shared  # noqa: E402

SMOKE_C4 = "detection/smoke/faster-rcnn_tiny-c4_synthetic-voc.py"
SMOKE_SSD = "detection/smoke/ssd_tiny_synthetic-voc.py"


def build_detector(detector: str, tmp_path: Path, classes=CLASSES) -> torch.nn.Module:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import harness.detection.mmdet_modules  # noqa: F401

    register_all_modules()
    cfg = build_config(detector, devkit=tmp_path, classes=classes, work_dir=tmp_path / "w", seed=0)
    return MODELS.build(cfg.model)


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A harness resnet_tiny (the smoke ResNet-50 stand-in) with non-default BN statistics, saved as the
    trainer saves it."""
    torch.manual_seed(0)
    model = create_model("resnet_tiny", 10)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    path = tmp_path_factory.mktemp("backbone") / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "epoch": 1}, path)
    return model.eval(), path


@pytest.mark.parametrize("detector", [SMOKE_C4, SMOKE_SSD])
def test_conversion_places_every_backbone_tensor(detector, tiny_backbone, tmp_path):
    model, checkpoint = tiny_backbone
    detector_model = build_detector(detector, tmp_path)
    converted = tmp_path / "backbone.pth"
    placed = write_detector_checkpoint(checkpoint, detector_model, converted)
    non_classifier = [k for k in model.state_dict() if not k.startswith("fc.")]
    assert placed == len(non_classifier) == len(backbone_keys(detector_model.state_dict()))
    with pytest.raises(HarnessError, match="did not load"):  # still at its own initialisation
        assert_loaded(detector_model, converted)
    state = torch.load(converted, weights_only=True)["state_dict"]
    detector_model.load_state_dict(state, strict=False)
    assert_loaded(detector_model, converted)
    # The same function: the detector's trunk reproduces the timm model's features on an image.
    detector_model.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.layer3(model.layer2(model.layer1(model.maxpool(model.act1(model.bn1(model.conv1(image)))))))
        features = detector_model.backbone(image)
    layer3 = features[-1] if "c4" in detector else features[1]
    torch.testing.assert_close(layer3, expected)
    if "c4" in detector:  # layer4 runs as the RoI head
        torch.testing.assert_close(detector_model.roi_head.shared_head(expected), model.layer4(expected))


def test_conversion_refuses_another_architecture(tmp_path):
    other = create_model("resnet_tiny_deep", 10)  # two blocks per stage: tensors without a place
    with pytest.raises(HarnessError, match="without a place"):
        timm_to_detector(other.state_dict(), build_detector(SMOKE_C4, tmp_path).state_dict())
    wide = create_model("resnext_tiny", 10)  # same names for some tensors, other shapes
    with pytest.raises(HarnessError):
        timm_to_detector(wide.state_dict(), build_detector(SMOKE_C4, tmp_path).state_dict())


def _dets(*boxes_scores) -> np.ndarray:
    return np.array(boxes_scores, dtype=np.float32).reshape(-1, 5)


def test_voc07_map_by_hand():
    """Class 0 (2 countable objects): ranked detections TP 0.9, duplicate FP 0.8, on-a-difficult 0.7 (ignored),
    FP 0.6, TP 0.5 -> precision/recall (1, .5), (.5, .5), (1/3, .5), (.5, 1): 11-point AP = (6 x 1 + 5 x .5)/11.
    Class 1: one object, found -> AP 1. Class 2: no object anywhere -> no AP, not in the mean."""
    g1, g2, g3, g4 = [10, 10, 50, 50], [100, 100, 140, 140], [20, 30, 60, 70], [0, 0, 30, 30]
    annotations = [
        {"bboxes": np.array([g1], np.float32), "labels": np.array([0]),
         "bboxes_ignore": np.array([g2], np.float32), "labels_ignore": np.array([0])},
        {"bboxes": np.array([g3, g4], np.float32), "labels": np.array([0, 1]),
         "bboxes_ignore": np.zeros((0, 4), np.float32), "labels_ignore": np.zeros(0, int)},
    ]
    detections = [
        [_dets(g1 + [0.9], [11, 11, 50, 50, 0.8], g2 + [0.7], [200, 200, 240, 240, 0.6]), _dets(), _dets([5, 5, 9, 9, 0.4])],
        [_dets(g3 + [0.5]), _dets([1, 1, 30, 30, 0.95]), _dets()],
    ]
    mean, per_class = voc07_map(detections, annotations, ["a", "b", "c"])
    assert per_class == pytest.approx({"a": 100 * 8.5 / 11, "b": 100.0})
    assert mean == pytest.approx((100 * 8.5 / 11 + 100) / 2)


def test_generated_voc_set_round_trips(tmp_path):
    spec = VocSyntheticSpec(trainval_images=6, test_images=3)
    devkit = generate_voc(tmp_path, spec)
    assert generate_voc(tmp_path, spec) == devkit  # made once
    check_voc(devkit, {"VOC2007": ["trainval", "test"]})
    ids = image_ids(devkit, "VOC2007", "trainval")
    assert len(ids) == 6 and len(image_ids(devkit, "VOC2007", "test")) == 3
    for image_id in ids:
        (width, height), objects = read_annotation(devkit / "VOC2007" / "Annotations" / f"{image_id}.xml")
        assert (width, height) == (128, 128) and spec.min_objects <= len(objects) <= spec.max_objects
        for obj in objects:
            x1, y1, x2, y2 = obj.box
            assert obj.name in CLASSES and 1 <= x1 < x2 <= 128 and 1 <= y1 < y2 <= 128
            if obj.difficult:  # drawn in a square smaller than difficult_side
                assert max(x2 - x1, y2 - y1) + 1 <= spec.difficult_side * 128 + 2


def test_missing_voc_is_one_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="VOC2012.*Put VOCdevkit"):
        check_voc(tmp_path / "VOCdevkit", {"VOC2012": ["trainval"]})


def test_paper_configs_read_voc0712_and_frozen_backbones(tmp_path):
    from harness.detection.config import voc_datasets

    for detector in ("detection/faster-rcnn_r50-c4_voc0712.py", "detection/ssd300_r50_voc0712.py",
                     "detection/faster-rcnn_r50_fpn_1x_voc0712.py"):
        cfg = build_config(detector, devkit=tmp_path, classes=VOC_CLASSES, work_dir=tmp_path, seed=0)
        assert voc_splits(cfg) == {"VOC2007": ["trainval", "test"], "VOC2012": ["trainval"]}
        assert all(node["data_root"] == f"{tmp_path}/" for node in voc_datasets(cfg))
        assert cfg.model.backbone.init_cfg is None and cfg.model.backbone.norm_eval  # nothing downloaded; frozen BN
        assert cfg.test_evaluator.type == "VOC07Metric"
    paper_c4 = build_config("detection/faster-rcnn_r50-c4_voc0712.py", devkit=tmp_path, classes=VOC_CLASSES,
                            work_dir=tmp_path, seed=0)
    assert (paper_c4.train_cfg.max_iters, paper_c4.train_dataloader.batch_size) == (120000, 8)
    assert paper_c4.param_scheduler[1].milestones == [100000] and paper_c4.optim_wrapper.optimizer.lr == 0.01
    reduced = build_config("detection/ssd300_r50_voc0712.py", devkit=tmp_path, classes=VOC_CLASSES, work_dir=tmp_path,
                           seed=0, schedule_fraction=0.25)
    assert reduced.train_cfg.max_iters == 30000 and reduced.param_scheduler[1].milestones == [20000, 25000]
    assert reduced.param_scheduler[0].end == 500  # the warm-up keeps its length


@pytest.mark.shared_data
def test_voc_loader_on_real_subset(tmp_path):
    """MMDetection's VOCDataset, configured by the harness, reads the real VOC-layout subset: every image of
    the split, every box of the XML files, difficult objects as ignored ones."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules

    devkit = shared("voc_style_from_coco/VOCdevkit")
    register_all_modules()
    cfg = build_config(SMOKE_C4, devkit=devkit, classes=VOC_CLASSES, work_dir=tmp_path, seed=0)
    check_voc(devkit, voc_splits(cfg))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    ids = image_ids(devkit, "VOC2007", "test")
    assert len(dataset) == len(ids)
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        _, objects = read_annotation(Path(info["xml_path"]))
        assert [VOC_CLASSES[i["bbox_label"]] for i in info["instances"]] == [o.name for o in objects]
        assert [i["ignore_flag"] for i in info["instances"]] == [int(o.difficult) for o in objects]
        assert [i["bbox"] for i in info["instances"]] == [[v - 1 for v in o.box] for o in objects]


def _fine_tune(tmp_path: Path, checkpoint: Path, dataset: str, data_root: Path, iterations: int,
               detector: str = SMOKE_C4) -> dict:
    from harness.paths import experiment_file
    from harness.detection.runner import run_detection
    from mmengine.config import Config

    full = Config.fromfile(str(experiment_file(detector))).train_cfg.max_iters
    config = {"detector": detector, "dataset": dataset, "seed": 0, "schedule_fraction": iterations / full,
              "backbone_checkpoint": str(checkpoint), "data_root": str(data_root), "method": "none", "model": "resnet50"}
    return run_detection(config, tmp_path / "run", progress=False)


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
@pytest.mark.parametrize("detector", [SMOKE_C4, SMOKE_SSD])
def test_short_fine_tune_writes_a_record_and_resumes(detector, tiny_backbone, tmp_path):
    _, checkpoint = tiny_backbone
    record = _fine_tune(tmp_path, checkpoint, "synthetic_voc", tmp_path / "data", iterations=8, detector=detector)
    run = tmp_path / "run"
    assert json.loads((run / "record.json").read_text())["best"] == record["best"]
    assert record["iterations"] == 8 and record["test_images"] == VocSyntheticSpec.test_images
    assert 0.0 <= record["best"]["map"] <= 100.0 and set(record["per_class_ap"]) <= set(CLASSES)
    # AP for exactly the classes with a (non-difficult) test object, counted here from the annotation files,
    # and the mean over those alone
    devkit = generate_voc(tmp_path / "data")
    present = {o.name for i in image_ids(devkit, "VOC2007", "test")
               for o in read_annotation(devkit / "VOC2007" / "Annotations" / f"{i}.xml")[1] if not o.difficult}
    assert set(record["per_class_ap"]) == present and len(present) >= 2
    assert record["best"]["map"] == pytest.approx(sum(record["per_class_ap"].values()) / len(present))
    examples = np.load(run / "detection_examples.npz")
    assert examples["image_0"].shape == (128, 128, 3) and examples["pred_0"].shape[1] == 6
    assert json.loads((run / "status.json").read_text()) == {"epoch": 8, "epochs": 8, "unit": "iteration"}
    # A rerun (say after a crash during testing) resumes from mmengine's checkpoint: no training, same result.
    (run / "record.json").unlink()
    again = _fine_tune(tmp_path, checkpoint, "synthetic_voc", tmp_path / "data", iterations=8, detector=detector)
    assert again["best"] == record["best"]


@pytest.mark.shared_data
def test_short_fine_tune_on_real_subset(tiny_backbone, tmp_path):
    _, checkpoint = tiny_backbone
    root = shared("voc_style_from_coco")
    record = _fine_tune(tmp_path, checkpoint, "voc", root, iterations=4)
    assert record["test_images"] == len(image_ids(root / "VOCdevkit", "VOC2007", "test"))
    assert set(record["per_class_ap"]) <= set(VOC_CLASSES) and 0.0 <= record["best"]["map"] <= 100.0


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_detection_jobs_fine_tune_table_3_runs(scale, tmp_path):
    """Every detection row waits for the Table 3 run of its method; Table 1's Det row shares Table 10's
    Faster R-CNN runs; fine-tuning the best instead of the last checkpoint is another job."""
    from harness.experiments import load_protocols, load_tables, select_tables
    from conftest import expand_tables

    tables, protocols = load_tables(), load_protocols()
    chosen = select_tables(tables, ["10", "1"])
    jobs, cells = expand_tables(chosen, protocols, scale, tmp_path, catalog=tables)
    t3 = {c.row: c.job.key for c in expand_tables([tables["T3_imagenet_r50"]], protocols, scale, tmp_path)[1] if c.job}
    detection = [j for j in jobs if j.task == "detection"]
    assert len(detection) == 8  # 4 methods x (Faster R-CNN, SSD)
    for job in detection:
        row = {"none": "Baseline", "mixup": "Mixup", "cutout": "Cutout", "cutmix": "CutMix"}[job.config["method"]]
        assert job.depends_on == [t3[row]] and job.config["backbone_checkpoint"].endswith(f"{t3[row]}/checkpoint.pt")
    shared_runs = {c.job.key for c in cells if c.table == "T1_overview_det"}
    assert shared_runs == {c.job.key for c in cells if c.table == "T10_det_faster_rcnn"}
    best = {name: {**scales, scale: {**scales[scale], "backbone_checkpoint": "best"}} for name, scales in protocols.items()}
    best_jobs, _ = expand_tables([tables["T10_det_ssd"]], best, scale, tmp_path, catalog=tables)
    assert {j.key for j in best_jobs}.isdisjoint(j.key for j in detection)
    assert all(j.config["backbone_checkpoint"].endswith("best_model.pt") for j in best_jobs)


def test_detector_digest_follows_every_inherited_file(tmp_path):
    """Runs are identified by the detector's config and every file it inherits from, read without MMDetection."""
    import shutil

    from harness.tasks.detection import config_files, detector_digest

    shutil.copytree(EXPERIMENTS / "detection", tmp_path / "detection")
    smoke = tmp_path / "detection" / "smoke" / "ssd_tiny_synthetic-voc.py"
    files = config_files(smoke)
    assert files[:2] == [smoke, tmp_path / "detection" / "ssd300_r50_voc0712.py"]
    assert {"ssd300_voc0712.py", "ssd300.py", "voc0712.py", "default_runtime.py"} <= {f.name for f in files[2:]}
    before = detector_digest(str(smoke))
    paper = tmp_path / "detection" / "ssd300_r50_voc0712.py"
    paper.write_text(paper.read_text() + "\n# an edit of the config it inherits from\n")
    detector_digest.cache_clear()
    assert detector_digest(str(smoke)) != before
