"""Captioning transfer (Table 10's NIC columns, Table A1, Table 1's captioning row): a NIC decoder over the frozen
backbone of the harness's own ImageNet run of the row's method (frozen as in the paper's captioning code), trained
and scored on MS-COCO captions."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.captioning import EXAMPLES
from harness.fingerprint import data_fingerprint
from harness.identity import Identity
from harness.paths import data_root
from harness.tasks.base import (BACKBONE_EXECUTION, BACKBONE_IDENTITY, Task, backbone_fields, backbone_run,
                                backbone_weights, run_dependencies, saved_examples)

FINGERPRINTED = {"synthetic": "synthetic_captions"}  # a data set's name in harness.fingerprint where it differs
SUBSETS = ("train_subset", "test_subset")  # the first images of each split, where a scale sets them
DECODER_SETTINGS = ("embed_size", "hidden_size", "min_count", "max_length", "epochs", "batch_size", "lr", "beam_size")


class CaptioningTask(Task):
    name = "captioning"
    runtime_modules = ("harness.captioning.runner",)
    metrics = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "meteor": "METEOR",
               "rouge_l": "ROUGE-L", "cider": "CIDEr"}
    measured_note = ("Measured = the decoder after its schedule (best and last coincide), scored by pycocoevalcap "
                     "(PTB tokenizer, BLEU, METEOR, ROUGE-L, CIDEr-D; SPICE left out: it downloads models at run "
                     "time), mean ± std over seeds; Δ = measured − paper. Encoder: the backbone run's ResNet, FROZEN, "
                     "as in the paper's captioning code (stevehuanghe/image_captioning: NIC detaches the ResNet "
                     "features and leaves its weights out of the optimiser; its --fine_tune is off and detaches them "
                     "all the same); its features are computed once from centre crops, where that code re-draws a "
                     "random crop and flip each epoch.")

    identity = Identity("captioning", fields={
        "dataset": "dataset", "image_size": "image_size", "seed": "seed", "data": "data_fingerprint",
        **BACKBONE_IDENTITY, **{name: name for name in DECODER_SETTINGS + SUBSETS},
    }, execution={"data_root": "where the data are: data_fingerprint names what they hold",
                  "device": "where the job runs", "num_workers": "how many processes load its images",
                  **BACKBONE_EXECUTION})

    def configuration(self, study, run):
        backbone = backbone_run(study, run)
        protocol = run.protocol
        decoder = {k: protocol[k] for k in DECODER_SETTINGS}
        decoder.update({k: protocol[k] for k in SUBSETS if protocol.get(k)})  # a rehearsal's first images
        if study.settings.epochs:
            decoder["epochs"] = study.settings.epochs
        root = study.data_folder(protocol["dataset"])
        return {"dataset": protocol["dataset"], "image_size": protocol["image_size"], "seed": run.seed,
                "method": run.row.method, **backbone_fields(backbone), **decoder, "data_root": root,
                "device": study.settings.device, "num_workers": study.settings.num_workers,
                "data_fingerprint": data_fingerprint(FINGERPRINTED.get(protocol["dataset"], protocol["dataset"]), root)}

    def missing_runtime(self, config):
        from harness.captioning.scoring import missing_java

        return missing_java()

    def require_data(self, config):
        if config["dataset"] == "coco":
            from harness.captioning.data import locate_coco

            locate_coco(data_root(config.get("data_root")))

    def dependencies(self, config):
        return run_dependencies(config)

    def given_weights(self, config):
        return backbone_weights(config, with_head=False)

    def epochs(self, config):
        return config["epochs"]

    def run(self, config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
        from harness.captioning.runner import run_captioning

        return run_captioning(config, run_dir, progress)

    def report_figures(self, table, cells, scale):
        """The same test images captioned by each backbone's decoder, with a reference caption."""
        examples = saved_examples(table, cells, EXAMPLES)
        if not examples:
            return {}
        import textwrap

        from harness.plotting import image_grid

        def draw(cell, data, c: int) -> None:
            cell.image(data["images"][c])
            cell.caption("\n".join(textwrap.wrap(str(data["generated"][c]), 28)) + "\nref: "
                         + "\n".join(textwrap.wrap(str(data["reference"][c]), 28)))

        columns = len(examples[0][1]["images"])
        return {"captions": image_grid(examples, columns, draw, (2.2, 2.9),
                                       f"{table.title}: generated captions and a reference (ref) [{scale} scale]",
                                       picture_height=2.2)}
