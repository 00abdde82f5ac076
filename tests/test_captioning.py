"""Captioning transfer: vocabulary, NIC decoding (greedy, beam), the backbone's weights in the encoder, the metrics
against pycocoevalcap's COCOEvalCap, resume, the data and Java checks, and the COCO loader on real captions."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
import torch

from harness.captioning.model import NICDecoder, beam_search, greedy_decode
from harness.captioning.vocab import END, START, UNKNOWN, Vocabulary, tokenize
from harness.errors import DataNotFoundError, HarnessError
from tests.conftest import shared

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's METEOR and tokenizer need Java")
CAPTIONS = ["A dog runs on the grass.", "two cats sleep on a red sofa", "a dog sleeps", "A man rides a horse."]


def test_vocabulary_counts_thresholds_and_round_trips(tmp_path):
    assert tokenize("A Dog's ball, on the GRASS!") == ["a", "dog's", "ball", "on", "the", "grass"]
    vocab = Vocabulary.build(CAPTIONS, min_count=2)
    assert vocab.words[:4] == ("<pad>", START, END, UNKNOWN)
    assert vocab.counts == {"a": 5, "dog": 2, "on": 2}  # words seen at least twice, most frequent first
    assert vocab.words[4:] == ("a", "dog", "on")
    ids = vocab.encode("a dog on a cat", max_length=20)
    assert ids[0] == vocab.index[START] and ids[-1] == vocab.index[END] and ids[5] == vocab.index[UNKNOWN]
    assert vocab.decode(ids[1:]) == "a dog on a"  # <unk> is dropped, <end> stops
    everything = Vocabulary.build(CAPTIONS, min_count=1)
    for caption in CAPTIONS:
        assert everything.decode(everything.encode(caption, 20)[1:]) == " ".join(tokenize(caption))
    assert len(everything.encode(CAPTIONS[1], max_length=3)) == 5  # cut to 3 words + <start>, <end>
    everything.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == everything


@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_a_tiny_nic_memorises_its_captions_and_generates_them_word_for_word():
    vocab = Vocabulary.build(CAPTIONS, min_count=1)
    torch.manual_seed(0)
    features = torch.randn(len(CAPTIONS), 16)
    targets = [torch.tensor(vocab.encode(c, 20)) for c in CAPTIONS]
    tokens = torch.nn.utils.rnn.pad_sequence(targets, batch_first=True)
    decoder = NICDecoder(16, len(vocab), embed_size=32, hidden_size=64)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.01)
    for _ in range(300):
        logits = decoder(features, tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoder.eval()
    start, end = vocab.index[START], vocab.index[END]
    expected = [" ".join(tokenize(c)) for c in CAPTIONS]
    assert [vocab.decode(ids) for ids in greedy_decode(decoder, features, start, end, 20)] == expected
    assert [vocab.decode(ids) for ids in beam_search(decoder, features, start, end, 20, beam_size=3)] == expected


def sequence_score(decoder: NICDecoder, feature: torch.Tensor, start: int, words: list[int]) -> float:
    state = decoder.start(feature.unsqueeze(0))
    token, total = torch.tensor([start]), 0.0
    for word in words:
        log_probs, state = decoder.step(token, state)
        total += float(log_probs[0, word])
        token = torch.tensor([word])
    return total


@torch.no_grad()
def test_beam_search_is_exact_with_a_wide_beam_and_greedy_with_a_beam_of_one():
    """Against brute force over every sequence of a 4-word vocabulary up to 3 words (finished by <end>, or cut at
    the length limit), and beam size 1 against greedy decoding on 16 images."""
    torch.manual_seed(3)
    vocab_size, start, end, max_length = 4, 1, 2, 3
    decoder = NICDecoder(8, vocab_size, embed_size=8, hidden_size=8).eval()
    features = torch.randn(6, 8) * 3
    found = beam_search(decoder, features, start, end, max_length, beam_size=vocab_size ** max_length)
    for image in range(len(features)):
        candidates = [list(words) + [end] for n in range(max_length) for words in itertools.product(
            [w for w in range(vocab_size) if w != end], repeat=n)]
        candidates += [list(w) for w in itertools.product([w for w in range(vocab_size) if w != end], repeat=max_length)]
        best = max(candidates, key=lambda words: sequence_score(decoder, features[image], start, words))
        assert found[image] == [w for w in best if w != end], image
    features = torch.randn(16, 8)
    assert beam_search(decoder, features, start, end, 10, beam_size=1) == greedy_decode(decoder, features, start, end, 10)


def fake_backbone_run(folder: Path, model: str = "resnet_tiny") -> Path:
    """A finished ImageNet run folder as the trainer leaves it: record.json and checkpoint.pt."""
    from harness.models import create_model
    from harness.train import RunConfig

    folder.mkdir(parents=True)
    torch.manual_seed(1)
    network = create_model(model, num_classes=10)
    torch.save({"model": network.state_dict()}, folder / "checkpoint.pt")
    config = RunConfig(dataset="synthetic", image_size=32, model=model, method="cutmix", epochs=1, milestones=[1])
    (folder / "record.json").write_text(json.dumps({"config": config.to_dict()}))
    return folder / "checkpoint.pt"


def test_the_encoder_is_the_backbone_run_bit_for_bit(tmp_path):
    from harness.captioning.runner import build_encoder

    checkpoint = fake_backbone_run(tmp_path / "backbone")
    saved = torch.load(checkpoint)["model"]
    encoder = build_encoder({"backbone_checkpoint": str(checkpoint)})  # as a job of a run (its record read)
    state = encoder.state_dict()
    assert set(saved) - set(state) == {"fc.weight", "fc.bias"}  # only the classifier is left out
    for name, tensor in state.items():
        assert torch.equal(tensor, saved[name]), name
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training
    assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, encoder.num_features)


@needs_java
@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_metrics_equal_what_cocoevalcap_prints(tmp_path, monkeypatch):
    """Our scorer against pycocoevalcap's own COCOEvalCap.evaluate (its SPICE stage replaced, as it needs a
    download), on hand-made references and candidates."""
    import pycocoevalcap.eval as cocoeval
    from pycocotools.coco import COCO

    from harness.captioning.scoring import score_results, write_coco_files

    references = {1: ["a dog runs on the grass", "a brown dog running in a field"],
                  2: ["two cats sleep on a red sofa", "cats sleeping on a couch"],
                  3: ["a man rides a horse on the beach", "a person riding a horse"]}
    candidates = {1: "a dog running on the grass", 2: "two cats on a sofa", 3: "a man riding a horse"}
    truth, results = write_coco_files(references, candidates, tmp_path)
    ours = score_results(truth, results)

    class NoSpice:
        def method(self):
            return "SPICE"

        def compute_score(self, gts, res):
            return 0.0, [0.0] * len(gts)

    monkeypatch.setattr(cocoeval, "Spice", NoSpice)
    coco = COCO(str(truth))
    reference = cocoeval.COCOEvalCap(coco, coco.loadRes(str(results)))
    reference.evaluate()
    names = {"Bleu_1": "bleu1", "Bleu_2": "bleu2", "Bleu_3": "bleu3", "Bleu_4": "bleu4", "METEOR": "meteor",
             "ROUGE_L": "rouge_l", "CIDEr": "cider"}
    assert ours == pytest.approx({ours_name: 100 * reference.eval[name] for name, ours_name in names.items()}, abs=1e-9)
    assert 0 < ours["bleu4"] < ours["bleu1"] < 100 and ours["cider"] > 0


def test_missing_java_and_missing_coco_are_said_in_one_line(tmp_path, monkeypatch):
    from harness.captioning import scoring
    from harness.captioning.data import locate_coco
    from harness.tasks import TASKS

    with pytest.raises(DataNotFoundError, match=r"annotations/captions_train2014.json.*coco"):
        locate_coco(tmp_path)
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        (tmp_path / "coco" / "annotations" / f"captions_{split}2014.json").write_text("{}")
    with pytest.raises(DataNotFoundError, match="lacks the image folder"):
        locate_coco(tmp_path)
    monkeypatch.setattr(scoring.shutil, "which", lambda name: None)
    TASKS["captioning"].require_data({"dataset": "synthetic"})  # no Java is no data problem: run_all.py leaves the jobs out
    assert TASKS["captioning"].missing_runtime({"dataset": "synthetic"}) == "needs a Java runtime: apt install default-jre-headless"
    with pytest.raises(HarnessError, match="Java runtime.*apt install default-jre-headless"):
        scoring.require_java()  # a captioning job started all the same (python -m harness.worker) stops so


@needs_java
@pytest.mark.long  # minutes of the suite: run by make test and CI (-m long)
def test_an_interrupted_run_resumes_to_the_same_figures(tmp_path, data_root):
    from harness.captioning.runner import run_captioning

    checkpoint = fake_backbone_run(tmp_path / "backbone")
    config = {"dataset": "synthetic", "image_size": 32, "seed": 0, "method": "cutmix", "model": "resnet50",
              "backbone_checkpoint": str(checkpoint), "embed_size": 16, "hidden_size": 32, "min_count": 1,
              "max_length": 12, "epochs": 2, "batch_size": 50, "lr": 0.003, "beam_size": 2,
              "data_root": str(data_root), "device": "cpu", "num_workers": 0}
    whole = run_captioning(config, tmp_path / "whole", progress=False)
    run_captioning({**config, "epochs": 1}, tmp_path / "cut", progress=False)  # stopped after epoch 1
    (tmp_path / "cut" / "record.json").unlink()
    resumed = run_captioning(config, tmp_path / "cut", progress=False)
    assert resumed["best"] == whole["best"] and resumed["train_curve"][1]["train_loss"] == whole["train_curve"][1]["train_loss"]
    assert (tmp_path / "cut" / "captions.json").read_text() == (tmp_path / "whole" / "captions.json").read_text()
    assert len(json.loads((tmp_path / "whole" / "captions.json").read_text())) == whole["test_images"]
    assert whole["train_curve"][1]["train_loss"] < whole["train_curve"][0]["train_loss"]


def test_captioning_jobs_start_from_table_3_runs_and_share_them_across_tables(tmp_path):
    from harness.experiments import load_protocols, load_tables, select_tables
    from conftest import expand_tables

    tables, protocols = load_tables(), load_protocols()
    jobs, cells = expand_tables(select_tables(tables, ["10", "A1", "1"]), protocols, "paper", tmp_path, catalog=tables)
    t3 = {c.row: c.job.key for c in expand_tables([tables["T3_imagenet_r50"]], protocols, "paper", tmp_path)[1] if c.job}
    captioning = [j for j in jobs if j.task == "captioning"]
    assert len(captioning) == 4  # one per method, shared by Table 10, Table A1 and Table 1
    for job in captioning:
        assert len(job.depends_on) == 1 and job.depends_on[0] in t3.values()
        assert {t for t, _, _ in job.cells} == {"T10_caption_nic", "TA1_caption", "T1_overview_caption"}
        assert (job.config["batch_size"], job.config["lr"], job.config["epochs"], job.config["beam_size"]) == (20, 0.001, 100, 20)


@pytest.mark.shared_data
def test_the_coco_loader_reads_real_captions():
    from harness.captioning.data import load_caption_data

    splits = load_caption_data("coco", shared("coco_captions_mini"), image_size=64)
    train, test = splits["train"], splits["test"]
    assert len(train.image_ids) + len(test.image_ids) == 159
    assert all(len(refs) >= 5 for refs in train.references + test.references)
    assert all(isinstance(c, str) and c for refs in test.references for c in refs)
    assert train.images[0].shape == (3, 64, 64)


def test_a_rehearsal_keeps_the_first_images_of_each_caption_split(data_root):
    from harness.captioning.data import load_caption_data

    whole = load_caption_data("synthetic", data_root, image_size=32)
    part = load_caption_data("synthetic", data_root, image_size=32, subsets={"train": 5, "test": 3})
    assert [len(part[s].image_ids) for s in ("train", "test")] == [5, 3] and len(part["test"].images) == 3
    assert part["test"].references == whole["test"].references[:3]
    assert torch.equal(part["train"].images[4][0], whole["train"].images[4][0])
