"""CAM, CAM boxes, IoU and the WSOL metrics on cases computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.localization import cam_boxes, class_activation_maps, iou, localization_scores, normalize_maps
from harness.localization.boxes import component_boxes


def test_one_blob_gives_its_tight_box():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:9] = True
    assert component_boxes(mask).tolist() == [[3, 2, 9, 5]]


def test_two_blobs_the_largest_is_chosen_and_all_are_listed():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0:2, 0:2] = True  # 4 pixels
    mask[5:9, 4:9] = True  # 20 pixels
    assert component_boxes(mask).tolist() == [[4, 5, 9, 9]]
    assert component_boxes(mask, largest_only=False).tolist() == [[4, 5, 9, 9], [0, 0, 2, 2]]


def test_blob_touching_the_border():
    mask = np.zeros((6, 6), dtype=bool)
    mask[3:, 4:] = True
    assert component_boxes(mask).tolist() == [[4, 3, 6, 6]]
    assert component_boxes(np.zeros((3, 3), dtype=bool)).shape == (0, 4)


def test_threshold_is_a_fraction_of_the_maximum():
    cam = torch.zeros(1, 8, 8)
    cam[0, 1:3, 1:3] = 1.0
    cam[0, 5:8, 4:8] = 0.5  # 12 pixels, above 0.4 * max only
    assert cam_boxes(cam, 0.4)[0].tolist() == [[4, 5, 8, 8]]
    assert cam_boxes(cam, 0.6)[0].tolist() == [[1, 1, 3, 3]]


def test_iou_hand_computed():
    a = np.array([[0, 0, 4, 4]])
    b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [4, 4, 8, 8]])
    np.testing.assert_allclose(iou(a, b), [[4 / 28, 1.0, 0.0]])


def test_cam_equals_direct_computation():
    features = torch.randn(2, 5, 3, 4)
    weight = torch.randn(7, 5)
    classes = torch.tensor([6, 1])
    cams = class_activation_maps(features, weight, classes)
    for i, c in enumerate(classes):
        direct = sum(weight[c, k] * features[i, k] for k in range(5))
        torch.testing.assert_close(cams[i], direct)
    maps = normalize_maps(cams, (12, 16))
    assert maps.shape == (2, 12, 16)
    torch.testing.assert_close(maps.flatten(1).min(1).values, torch.zeros(2))
    torch.testing.assert_close(maps.flatten(1).max(1).values, torch.ones(2))


def test_metrics_on_a_constructed_case():
    """Three 10x10 images, ground truth (2, 2, 6, 6) each.

    image 0: CAM exactly on the box, class correct          -> located at every threshold
    image 1: CAM on the box, class wrong                    -> GT-known yes, Top-1 Loc no
    image 2: a weak blob on the box (0.3) and a strong far blob (1.0, 2x2):
             at sigma 0.15 the largest region is the 16-pixel weak blob -> located;
             above 0.3 only the far blob remains -> not located.
    """
    maps = torch.zeros(3, 10, 10)
    maps[:, 2:6, 2:6] = 1.0
    maps[2, 2:6, 2:6] = 0.3
    maps[2, 8:10, 8:10] = 1.0
    gt = [np.array([[2, 2, 6, 6]])] * 3
    correct = np.array([True, False, True])
    scores = localization_scores(maps, maps, correct, gt, threshold=0.15, thresholds=np.array([0.1, 0.5]))
    assert scores.top1_cls == pytest.approx(200 / 3)
    assert scores.top1_loc == pytest.approx(200 / 3)  # images 0 and 2
    assert scores.gt_known_loc == pytest.approx(100.0)
    assert scores.max_box_acc == pytest.approx(100.0) and scores.best_threshold == 0.1
    # V2, all regions: at 0.1 every image has a box with IoU 1 -> 100 % at IoU 0.3/0.5/0.7
    assert scores.max_box_acc_v2 == pytest.approx(100.0)


def test_several_ground_truth_boxes_take_the_best():
    maps = torch.zeros(1, 10, 10)
    maps[0, 6:10, 6:10] = 1.0
    gt = [np.array([[0, 0, 3, 3], [6, 6, 10, 10]])]
    scores = localization_scores(maps, maps, np.array([True]), gt, thresholds=np.array([0.5]))
    assert scores.top1_loc == 100.0


# --- loaders on the small real sets (skipped where ../shared/data is absent) -------------------------
from tests.conftest import shared  # noqa: E402


@pytest.mark.shared_data
def test_cub_loader_reads_cubs_own_layout():
    from harness.data.localization import load_cub, wsol_transforms

    root = shared("cub_like_birds/CUB_200_2011")
    train, test = load_cub(root, True), load_cub(root, False, wsol_transforms()[1])
    flags = [line.split()[1] for line in (root / "train_test_split.txt").read_text().splitlines()]
    assert (len(train), len(test)) == (flags.count("1"), flags.count("0"))
    image, label = test[0]
    assert image.shape == (3, 224, 224)
    first_test = next(line.split()[0] for line in (root / "train_test_split.txt").read_text().splitlines() if line.split()[1] == "0")
    x, y, w, h = map(float, next(line.split()[1:] for line in (root / "bounding_boxes.txt").read_text().splitlines()
                                 if line.split()[0] == first_test))
    width, height = test.sizes[0]
    expected = [x * 256 / width - 16, y * 256 / height - 16, (x + w) * 256 / width - 16, (y + h) * 256 / height - 16]
    np.testing.assert_allclose(test.gt_boxes(0)[0], np.clip(expected, 0, 224))
    label_line = next(line for line in (root / "image_class_labels.txt").read_text().splitlines() if line.split()[0] == first_test)
    assert label == int(label_line.split()[1]) - 1


@pytest.mark.shared_data
def test_imagenet_box_loader_reads_wsolevaluation_metadata():
    from harness.data.localization import load_imagenet_boxes

    data = load_imagenet_boxes(shared("imagenet_val_loc"))
    assert len(data) == 1300
    assert sum(len(b) for b in data.original_boxes) == 1943  # the subset's README
    many = next(i for i, b in enumerate(data.original_boxes) if len(b) > 1)
    assert data.gt_boxes(many).shape == (len(data.original_boxes[many]), 4)


@pytest.mark.shared_data
def test_metric_pipeline_on_real_cub_images():
    import timm

    from harness.data.localization import load_cub, wsol_transforms
    from harness.tasks.localization import cam_predictions

    test = load_cub(shared("cub_like_birds/CUB_200_2011"), False, wsol_transforms()[1])
    subset = torch.utils.data.Subset(test, range(6))
    subset.gt_boxes = lambda i: test.gt_boxes(i)
    torch.manual_seed(0)
    model = timm.create_model("vgg_gap_tiny", num_classes=200)
    true_maps, predicted_maps, correct, boxes = cam_predictions(model, subset, torch.device("cpu"))
    assert true_maps.shape == (6, 224, 224) and len(boxes) == 6
    scores = localization_scores(true_maps, predicted_maps, correct, boxes)
    assert scores.max_box_acc >= scores.gt_known_loc and 0 <= scores.max_box_acc_v2 <= 100


def test_localization_run_writes_a_record(tmp_path, data_root):
    from harness.tasks.localization import EXAMPLES, LocalizationTask
    from harness.train import RunConfig

    train = RunConfig(dataset="synthetic", image_size=32, model="vgg_gap_tiny", method="cutmix", epochs=1,
                      milestones=[1], batch_size=100, lr=0.05, data_root=str(data_root))
    record = LocalizationTask().run({"train": train.to_dict(), "threshold": 0.15}, tmp_path / "job", progress=False)
    for metric in ("top1_loc", "gt_known_loc", "max_box_acc", "max_box_acc_v2", "top1_cls"):
        assert 0.0 <= record["last"][metric] <= 100.0
    assert record["last"]["top1_loc"] <= record["last"]["top1_cls"] + 1e-9  # a located image is also classified right
    assert record["last"]["max_box_acc"] >= record["last"]["gt_known_loc"] - 1e-9  # max over thresholds incl. 0.15
    assert (tmp_path / "job" / "record.json").is_file() and (tmp_path / "job" / EXAMPLES).is_file()


def test_paper_plan_lists_every_resnet50_and_vgg_gap_row_of_table_9(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "run_all.py", "--scale", "paper", "--plan", "--tables", "9"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=True)
    for table in ("T9_wsol_cub", "T9_wsol_imagenet"):
        for method in ("CAM", "Mixup", "Cutout", "CutMix"):
            for model in ("VGG-GAP", "ResNet-50"):
                line = next(l for l in result.stdout.splitlines() if f"{table}/{model}+{method}" in l)
                assert line.startswith("pending"), line
