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
