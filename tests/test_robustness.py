"""Robustness and uncertainty: FGSM against a closed form and autograd, the OOD metrics by hand (ties included),
the noise and folder sets, and the evaluation jobs' place in the plan (they wait for the runs they evaluate)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from harness.errors import DataNotFoundError
from harness.robustness.fgsm import Normalized, fgsm
from harness.robustness.occlusion import centre_mask, cutmix_between, draw_pairs, mixup_between, occlude
from harness.robustness.ood import max_softmax, ood_metrics
from harness.robustness.ood_data import ImageFolderFlat, locate_ood, noise_images, ood_dataset


def test_fgsm_on_a_linear_model_moves_each_pixel_by_epsilon_against_the_true_class():
    """For logits W x + b with two classes, d CE / d x = -(1 - p_y) (W_y - W_other): the step is
    -eps * sign(W_y - W_other) wherever that difference is non-zero, then clipped to [0, 1]."""
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    pixels = torch.rand(5, 3, 2, 2) * 0.8 + 0.1  # away from the borders: no clipping
    labels = torch.tensor([0, 1, 0, 1, 1])
    epsilon = 8 / 255
    adversarial = fgsm(linear, pixels, labels, epsilon)
    weight = linear[1].weight.detach()
    for i, y in enumerate(labels.tolist()):
        expected = -torch.sign(weight[y] - weight[1 - y]).view(3, 2, 2)
        assert torch.allclose(adversarial[i] - pixels[i], epsilon * expected, atol=1e-6)
    assert (adversarial - pixels).abs().max() <= epsilon + 1e-6
    clipped = fgsm(linear, torch.zeros(1, 3, 2, 2), torch.tensor([0]), 0.5)
    assert clipped.min() >= 0 and set(clipped.unique().tolist()) <= {0.0, 0.5}


def test_fgsm_through_the_normalisation_follows_the_pixel_gradient_by_autograd():
    torch.manual_seed(1)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(4, 3))
    model = Normalized(network, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    pixels, labels = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    by_hand = pixels.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(network((by_hand - model.mean) / model.std), labels).backward()
    expected = (pixels + 0.01 * by_hand.grad.sign()).clamp(0, 1)
    assert torch.equal(fgsm(model, pixels, labels, 0.01), expected)


def test_occlusion_masks_at_their_extremes_and_in_between():
    images = torch.rand(2, 3, 8, 8) + 0.1
    assert torch.equal(occlude(images, 0, "centre"), images) and occlude(images, 8, "centre").abs().sum() == 0
    assert occlude(images, 0, "boundary").abs().sum() == 0 and torch.equal(occlude(images, 8, "boundary"), images)
    hole = centre_mask(8, 8, 4)
    assert hole.sum() == 16 and hole[2:6, 2:6].all()
    centre, boundary = occlude(images, 4, "centre"), occlude(images, 4, "boundary")
    assert torch.equal(centre + boundary, images) and (centre[..., 2:6, 2:6] == 0).all()
    with pytest.raises(ValueError, match="centre"):
        occlude(images, 4, "middle")


def test_in_between_samples_at_their_ends_are_the_originals_and_pairs_differ_in_class():
    first, second = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    assert torch.equal(mixup_between(first, second, 1.0), first) and torch.equal(mixup_between(first, second, 0.0), second)
    assert torch.equal(cutmix_between(first, second, 0), first) and torch.equal(cutmix_between(first, second, 8), second)
    patched = cutmix_between(first, second, 4)
    assert torch.equal(patched[..., 2:6, 2:6], second[..., 2:6, 2:6]) and torch.equal(patched[..., 0, :], first[..., 0, :])
    labels = torch.tensor([0, 0, 1, 1, 2])
    pairs = draw_pairs(labels, 500, seed=3)
    assert pairs.shape == (500, 2) and (labels[pairs[:, 0]] != labels[pairs[:, 1]]).all()
    assert torch.equal(pairs, draw_pairs(labels, 500, seed=3))


def lee_calculate_log(known: np.ndarray, novel: np.ndarray) -> dict[str, float]:
    """A re-statement of Lee et al.'s ``calculate_log.py`` (``get_curve`` and ``metric``, deep_Mahalanobis_detector):
    the merge loop as they wrote it, for the harness's vectorised version to be held against."""
    known, novel = np.sort(known), np.sort(novel)
    num_k, num_n = len(known), len(novel)
    tp, fp = -np.ones(num_k + num_n + 1, dtype=int), -np.ones(num_k + num_n + 1, dtype=int)
    tp[0], fp[0] = num_k, num_n
    k = n = 0
    for step in range(num_k + num_n):
        if k == num_k:
            tp[step + 1:] = tp[step]
            fp[step + 1:] = np.arange(fp[step] - 1, -1, -1)
            break
        if n == num_n:
            tp[step + 1:] = np.arange(tp[step] - 1, -1, -1)
            fp[step + 1:] = fp[step]
            break
        if novel[n] < known[k]:
            n += 1
            tp[step + 1], fp[step + 1] = tp[step], fp[step] - 1
        else:
            k += 1
            tp[step + 1], fp[step + 1] = tp[step] - 1, fp[step]
    tnr = 1.0 - fp[np.abs(tp / num_k - 0.95).argmin()] / num_n
    tpr = np.concatenate([[1.0], tp / tp[0], [0.0]])
    fpr = np.concatenate([[1.0], fp / fp[0], [0.0]])
    auroc = -np.sum((tpr[1:] - tpr[:-1]) * ((1 - fpr[1:]) + (1 - fpr[:-1])) / 2)  # np.trapz(1 - fpr, tpr)
    dtacc = 0.5 * (tp / tp[0] + 1.0 - fp / fp[0]).max()
    return {"tnr_at_tpr95": 100 * tnr, "auroc": 100 * auroc, "detection_acc": 100 * dtacc}


@pytest.mark.parametrize("seed", range(6))
def test_ood_metrics_equal_lee_et_al_on_scores_with_gaps_and_ties(seed):
    rng = np.random.default_rng(seed)
    # coarse scores (many in/out ties, saturation at exactly 1.0 as float32 max-softmax does) with gaps between
    in_scores = np.minimum(1.0, np.round(rng.beta(5, 1, 157) * 12) / 12).astype(np.float32)
    out_scores = np.minimum(1.0, np.round(rng.beta(2, 2, 93) * 12) / 12).astype(np.float32)
    in_scores[:20] = out_scores[:10].max() if seed % 2 else 1.0
    assert ood_metrics(in_scores, out_scores) == pytest.approx(lee_calculate_log(in_scores, out_scores), abs=1e-9)


def test_ood_metrics_by_hand_with_ties_and_the_extremes():
    perfect = ood_metrics(np.linspace(0.5, 0.99, 20), np.array([0.1, 0.2, 0.3]))  # TPR 19/20 = 0.95 exists
    assert perfect == pytest.approx({"tnr_at_tpr95": 100.0, "auroc": 100.0, "detection_acc": 100.0})
    # with 4 in-scores the TPR nearest 0.95 is 1.0, first reached with every out image still "in": Lee et al.'s
    # pick gives TNR 0 even for a perfect detector (a small-sample quirk of that code, kept to stay equal to it)
    tiny = ood_metrics(np.array([0.9, 0.8, 0.95, 0.7]), np.array([0.1, 0.2, 0.3]))
    assert tiny == pytest.approx({"tnr_at_tpr95": 0.0, "auroc": 100.0, "detection_acc": 100.0})
    useless = ood_metrics(np.full(4, 0.5), np.full(4, 0.5))  # every score tied: Lee et al. count a tie against
    assert useless == pytest.approx({"tnr_at_tpr95": 0.0, "auroc": 0.0, "detection_acc": 50.0})
    inverted = ood_metrics(np.array([0.1, 0.2]), np.array([0.8, 0.9]))
    assert inverted["auroc"] == pytest.approx(0.0)
    # 4 in (0.9, 0.8, 0.6, 0.4), 4 out (0.7, 0.5, 0.4, 0.1), in-out pairs ranked right (a tie counts 0):
    # 0.9 beats 4, 0.8 beats 4, 0.6 beats 3, 0.4 beats 1 and ties 1 -> (4 + 4 + 3 + 1) / 16 = 0.75
    mixed = ood_metrics(np.array([0.9, 0.8, 0.6, 0.4]), np.array([0.7, 0.5, 0.4, 0.1]))
    assert mixed["auroc"] == pytest.approx(75.0)
    # TPR 1.0 (the closest to 0.95) holds at the curve's first two points (every out image "in", then all but
    # 0.1); the first is taken -> TNR 0 (scikit-learn's lowest-FPR pick would say 25)
    assert mixed["tnr_at_tpr95"] == pytest.approx(0.0)
    # best point: after removing 0.1, 0.4 (in), 0.4, 0.5 (out) -> TPR 3/4, TNR 3/4 -> 0.75
    assert mixed["detection_acc"] == pytest.approx(75.0)


def test_max_softmax_is_the_largest_class_probability():
    logits = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    assert max_softmax(logits) == pytest.approx([0.5, 1 / (1 + np.exp(-10))])


def test_noise_sets_follow_odin():
    uniform, gaussian = noise_images("uniform_noise", 200, 0), noise_images("gaussian_noise", 200, 0)
    assert uniform.shape == gaussian.shape == (200, 3, 32, 32)
    assert 0 <= uniform.min() and uniform.max() < 1 and abs(float(uniform.mean()) - 0.5) < 0.01
    clipped = float(((gaussian == 0) | (gaussian == 1)).float().mean())  # N(0.5, 1) clipped: P(|z| > 0.5) = 0.617
    assert abs(clipped - 0.617) < 0.01 and torch.equal(noise_images("gaussian_noise", 200, 0), gaussian)


def test_the_odin_folder_loader_reads_every_image_and_names_the_missing_archive(tmp_path):
    folder = tmp_path / "ood" / "LSUN" / "test"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(folder / f"{i}.jpg")
    (folder / "notes.txt").write_text("not an image")
    assert locate_ood(tmp_path, "LSUN") == tmp_path / "ood" / "LSUN"
    identity = ood_dataset("LSUN", tmp_path, 0, lambda x: x, seed=0)
    assert len(identity) == 3 and identity[2][0].shape == (3, 32, 32)
    assert float(identity[1][0].mean()) == pytest.approx(60 / 255, abs=0.01)
    with pytest.raises(DataNotFoundError, match=r"iSUN.*iSUN.tar.gz.*ood"):
        locate_ood(tmp_path, "iSUN")
    with pytest.raises(DataNotFoundError, match="no images"):
        ImageFolderFlat(tmp_path / "empty", lambda x: x)


def test_generated_stand_ins_are_made_once_in_odin_layout(tmp_path):
    sets = [ood_dataset(name, tmp_path, 5, lambda x: x, seed=0) for name in ("textures_crop", "clutter_resize")]
    assert all(len(s) == 5 and s[0][0].shape == (3, 32, 32) for s in sets)
    assert not torch.equal(sets[0][0][0], sets[1][0][0])
    again = ood_dataset("textures_crop", tmp_path, 5, lambda x: x, seed=0)
    assert torch.equal(again[4][0], sets[0][4][0])


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_evaluation_jobs_wait_for_the_runs_they_evaluate(scale, tmp_path):
    from harness.experiments import load_protocols, load_tables, select_tables
    from conftest import expand_tables

    tables, protocols = load_tables(), load_protocols()
    jobs, cells = expand_tables(select_tables(tables, ["11", "12", "A2"]), protocols, scale, tmp_path, catalog=tables)
    evaluated = {source: {(c.row, c.seed): c.job.key for c in expand_tables([tables[source]], protocols, scale, tmp_path)[1] if c.job}
                 for source in ("T3_imagenet_r50", "T5_cifar100_pyr200")}
    fgsm_jobs = [j for j in jobs if j.config["evaluation"] == "fgsm"]
    ood_jobs = [j for j in jobs if j.config["evaluation"] == "ood"]
    assert len(fgsm_jobs) == 4 and len(ood_jobs) == 4 * len(protocols["ood_cifar100"][scale]["seeds"])
    rows = {"none": "Baseline", "mixup": "Mixup", "cutout": "Cutout", "cutmix": "CutMix"}
    for job in fgsm_jobs:
        assert job.depends_on == [evaluated["T3_imagenet_r50"][(rows[job.config["method"]], job.config["seed"])]]
    rows["mixup"] = "Mixup a=1.0"  # Table 5's row
    for job in ood_jobs:
        assert job.depends_on == [evaluated["T5_cifar100_pyr200"][(rows[job.config["method"]], job.config["seed"])]]
    assert all(len({t for t, _, _ in j.cells}) == 8 for j in ood_jobs)  # Table 12 and the seven Table A2 sets share it


def test_an_evaluation_job_fails_with_the_reason_when_its_run_is_missing(tmp_path):
    from harness.robustness.runner import run_robustness

    config = {"evaluation": "fgsm", "epsilon": 0.03, "seed": 0, "backbone_checkpoint": str(tmp_path / "run" / "checkpoint.pt"),
              "batch_size": 10, "data_root": str(tmp_path), "device": "cpu"}
    with pytest.raises(DataNotFoundError, match="the run this job evaluates has not finished"):
        run_robustness(config, tmp_path / "job", progress=False)


def test_fgsm_and_ood_jobs_write_records_from_a_trained_run(tmp_path, data_root):
    from harness.models import create_model
    from harness.robustness.runner import run_robustness
    from harness.train import RunConfig

    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    train = RunConfig(dataset="synthetic", image_size=32, model="resnet_cifar_tiny", method="none", epochs=1, milestones=[1])
    torch.save({"model": create_model("resnet_cifar_tiny", 10).state_dict()}, run / "checkpoint.pt")
    (run / "record.json").write_text(json.dumps({"config": train.to_dict()}))
    common = {"seed": 0, "backbone_checkpoint": str(run / "checkpoint.pt"), "batch_size": 100, "data_root": str(data_root),
              "device": "cpu"}
    attacked = run_robustness({**common, "evaluation": "fgsm", "epsilon": 8 / 255}, tmp_path / "fgsm", progress=False)
    assert 0 <= attacked["best"]["top1_acc"] <= 100 and 0 <= attacked["best"]["clean_top1_acc"] <= 100
    sets = {"Uniform": "uniform_noise", "LSUN_crop": "clutter_crop"}
    scored = run_robustness({**common, "evaluation": "ood", "ood_sets": sets}, tmp_path / "ood", progress=False)["best"]
    for metric in ("tnr_at_tpr95", "auroc", "detection_acc"):
        assert scored[metric] == pytest.approx((scored[f"Uniform.{metric}"] + scored[f"LSUN_crop.{metric}"]) / 2)
    assert (tmp_path / "ood" / "record.json").is_file()
    occluded = run_robustness({**common, "evaluation": "occlusion", "hole_steps": 4, "pairs": 50}, tmp_path / "f5", progress=False)
    curves = occluded["figure5"]
    assert curves["hole_sizes"] == [0, 8, 16, 24, 32] and len(curves["mixup_neither"]) == 11
    assert curves["centre_err"][0] == curves["boundary_err"][-1] == pytest.approx(100 - attacked["best"]["clean_top1_acc"])
    # both in-between curves start from image A and end at image B: CutMix at hole 0 = Mixup at λ = 1, and the
    # whole-image hole = λ = 0 (lambdas ascend); independent paths through the evaluation
    assert curves["lambdas"][0] == 0 and curves["lambdas"][-1] == 1
    assert curves["cutmix_neither"][0] == pytest.approx(curves["mixup_neither"][-1])
    assert curves["cutmix_neither"][-1] == pytest.approx(curves["mixup_neither"][0])
