"""Image captioning transfer (Table 10's NIC columns, Table A1): the vocabulary, the COCO and generated caption
data, the NIC decoder with greedy and beam decoding, and pycocoevalcap's scorers. Imported when a job runs."""

EXAMPLES = "caption_examples.npz"  # the test images and captions a run saves for the report's figure
