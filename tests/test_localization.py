"""CAM, CAM boxes, IoU and the WSOL metrics on cases computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.localization import cam_boxes, class_activation_maps, iou, localization_scores, normalize_maps
from harness.localization.metrics import THRESHOLDS


def test_one_blob_gives_its_box_as_wsolevaluation_writes_it():
    cam = torch.zeros(1, 10, 12)
    cam[0, 2:5, 3:9] = 1.0  # rows 2-4, columns 3-8
    assert cam_boxes(cam, 0.5)[0].tolist() == [[3, 2, 9, 5]]  # x1 = x + w, y1 = y + h (one past the last pixel)


def test_two_blobs_the_largest_is_chosen_and_all_are_listed():
    cam = torch.zeros(1, 10, 10)
    cam[0, 0:2, 0:2] = 1.0  # 4 pixels
    cam[0, 5:9, 4:9] = 1.0  # 20 pixels
    assert cam_boxes(cam, 0.5)[0].tolist() == [[4, 5, 9, 9]]
    assert sorted(cam_boxes(cam, 0.5, largest_only=False)[0].tolist()) == [[0, 0, 2, 2], [4, 5, 9, 9]]


def test_blob_touching_the_border_is_clipped_to_the_last_pixel_and_an_empty_map_gives_the_zero_box():
    cam = torch.zeros(1, 6, 6)
    cam[0, 3:, 4:] = 1.0
    assert cam_boxes(cam, 0.5)[0].tolist() == [[4, 3, 5, 5]]  # x + w = 6 clipped to W - 1 = 5
    assert cam_boxes(torch.zeros(1, 3, 3), 0.5)[0].tolist() == [[0, 0, 0, 0]]


def test_threshold_is_strictly_above_int_of_a_fraction_of_the_uint8_maximum():
    cam = torch.zeros(1, 8, 8)
    cam[0, 1:3, 1:3] = 1.0  # 255
    cam[0, 5:8, 4:8] = 0.5  # 127: 12 pixels
    assert cam_boxes(cam, 0.4)[0].tolist() == [[4, 5, 7, 7]]  # 127 > int(0.4 * 255) = 102
    assert cam_boxes(cam, 0.6)[0].tolist() == [[1, 1, 3, 3]]
    assert cam_boxes(cam, 127 / 255 + 1e-9)[0].tolist() == [[1, 1, 3, 3]]  # int(127.0...) = 127: 127 is not above it


def test_iou_hand_computed_in_both_conventions():
    a = np.array([[0, 0, 4, 4]])
    b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [4, 4, 8, 8], [5, 5, 8, 8]])
    np.testing.assert_allclose(iou(a, b), [[4 / 28, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(iou(a, b, inclusive=True), [[9 / 41, 1.0, 1 / 49, 0.0]])


# --- an independent re-statement of wsolevaluation's box evaluation (evaluation.py: compute_bboxes_from_scoremaps,
# calculate_multiple_iou, BoxEvaluator with multi_contour_eval False/True and iou_threshold_list 30/50/70),
# written per image and per threshold as the reference does, to check the harness's vectorised version against.
def reference_boxes(scoremap: np.ndarray, threshold: float, multi_contour: bool) -> list[list[int]]:
    import cv2

    height, width = scoremap.shape
    image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)
    _, binary = cv2.threshold(src=image, thresh=int(threshold * np.max(image)), maxval=255, type=cv2.THRESH_BINARY)
    contours = cv2.findContours(image=binary, mode=cv2.RETR_TREE, method=cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return [[0, 0, 0, 0]]
    if not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
    return boxes


def reference_iou(box, truth) -> float:
    inter_w = max(0, min(box[2], truth[2]) - max(box[0], truth[0]) + 1)
    inter_h = max(0, min(box[3], truth[3]) - max(box[1], truth[1]) + 1)
    inter = inter_w * inter_h
    union = (box[2] - box[0] + 1) * (box[3] - box[1] + 1) + (truth[2] - truth[0] + 1) * (truth[3] - truth[1] + 1) - inter
    return inter / union if union > 0 else 0.0


def reference_resize_box(box, size, new_size=(224, 224)):
    return [int(float(v) * float(new_size[i % 2]) / float(size[i % 2])) for i, v in enumerate(box)]


def reference_max_box_acc(scoremaps, gt_boxes, thresholds, multi_contour: bool, iou_percents) -> dict[int, float]:
    correct = {p: np.zeros(len(thresholds)) for p in iou_percents}
    for scoremap, truths in zip(scoremaps, gt_boxes):
        best = []
        for threshold in thresholds:
            best.append(max(reference_iou(box, truth) for box in reference_boxes(scoremap, threshold, multi_contour)
                            for truth in truths))
        for p in iou_percents:
            correct[p][np.where(np.asarray(best) >= p / 100)[0]] += 1
    return {p: (correct[p] * 100.0 / len(scoremaps)).max() for p in iou_percents}


def varied_score_maps(count: int, size: tuple[int, int], seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Smooth blobs (one to four, various widths) plus noise, min-max normalised, and one to three ground-truth
    boxes each given in a random original image size and resized to ``size`` with int() as the reference does."""
    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    maps, boxes = [], []
    for _ in range(count):
        field = rng.uniform(0, 0.3) * rng.random((height, width))
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            sy, sx = rng.uniform(3, height / 3), rng.uniform(3, width / 3)
            field += rng.uniform(0.2, 1.0) * np.exp(-((yy - cy) ** 2 / (2 * sy ** 2) + (xx - cx) ** 2 / (2 * sx ** 2)))
        field = ((field - field.min()) / (field.max() - field.min())).astype(np.float32)
        maps.append(field)
        original = (int(rng.integers(200, 600)), int(rng.integers(200, 600)))  # (w, h)
        truths = []
        for _ in range(rng.integers(1, 4)):
            x0, x1 = sorted(rng.uniform(0, original[0], 2))
            y0, y1 = sorted(rng.uniform(0, original[1], 2))
            truths.append(reference_resize_box([x0, y0, x1, y1], original, (width, height)))
        boxes.append(np.array(truths))
    return np.stack(maps), boxes


@pytest.mark.parametrize("size,seed", [((224, 224), 0), ((224, 224), 1), ((96, 160), 2)])
def test_max_box_acc_and_v2_equal_wsolevaluation_on_varied_maps(size, seed):
    maps, boxes = varied_score_maps(40, size, seed)
    thresholds = THRESHOLDS[::3]  # a third of the grid keeps the pure-Python reference fast
    scores = localization_scores(torch.from_numpy(maps), torch.from_numpy(maps), np.ones(len(maps), bool), boxes,
                                 thresholds=thresholds)
    v1 = reference_max_box_acc(maps, boxes, thresholds, multi_contour=False, iou_percents=[50])[50]
    v2 = reference_max_box_acc(maps, boxes, thresholds, multi_contour=True, iou_percents=[30, 50, 70])
    assert scores.max_box_acc == pytest.approx(v1, abs=1e-9)
    assert scores.max_box_acc_v2 == pytest.approx(np.average([v2[30], v2[50], v2[70]]), abs=1e-9)
    assert 0 < scores.max_box_acc < 100 and scores.max_box_acc_v2 != scores.max_box_acc  # the maps discriminate
    # the paper's GT-known Loc and Top-1 Loc use the same boxes at sigma = 0.15
    known = reference_max_box_acc(maps, boxes, [0.15], multi_contour=False, iou_percents=[50])[50]
    assert scores.gt_known_loc == pytest.approx(known, abs=1e-9)


def test_threshold_grid_is_wsolevaluations():
    np.testing.assert_array_equal(THRESHOLDS, np.arange(0, 1, 0.01))


def test_boxes_are_resized_with_int_as_wsolevaluation_does():
    from harness.data.localization import boxes_after_resize_crop

    box = np.array([[10.7, 20.2, 300.9, 250.5]])
    assert boxes_after_resize_crop(box, 500, 375, 224, 224).tolist() == [reference_resize_box(box[0], (500, 375))]
    # the paper's transform: resize 256x256 then centre crop 224 (offset 16), clipped to the crop
    expected = [max(0, int(10.7 * 256 / 500) - 16), max(0, int(20.2 * 256 / 375) - 16), min(223, int(300.9 * 256 / 500) - 16),
                int(250.5 * 256 / 375) - 16]
    assert boxes_after_resize_crop(box, 500, 375).tolist() == [expected]


def test_a_box_on_the_image_edge_maps_as_wsolevaluation_maps_it():
    """wsolevaluation does not clip ground truth: an edge on the border lands on 224, not 223."""
    from harness.data.localization import boxes_after_resize_crop

    edge = np.array([[0.0, 0.0, 500.0, 375.0], [250.0, 100.0, 500.0, 375.0]])
    assert boxes_after_resize_crop(edge, 500, 375, 224, 224).tolist() == [reference_resize_box(b, (500, 375)) for b in edge]
    assert boxes_after_resize_crop(edge, 500, 375, 224, 224)[:, 2:].max() == 224
    assert boxes_after_resize_crop(edge, 500, 375).max() == 223  # the paper's crop cuts the border off: clipped


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
    gt = [np.array([[2, 2, 6, 6]])] * 3  # the blob's box as the reference writes it (x + w, y + h)
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
    gt = [np.array([[0, 0, 3, 3], [6, 6, 9, 9]])]
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
    expected = [int(v * 256 / size) - 16 for v, size in zip((x, y, x + w, y + h), (width, height, width, height))]
    assert test.gt_boxes(0)[0].tolist() == np.clip(expected, 0, 223).tolist()
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
    from harness.localization.evaluate import cam_predictions

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
