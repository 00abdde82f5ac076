"""Robustness and uncertainty of trained classifiers (Section 4.4, Appendix E): the FGSM attack, occlusion and
in-between-class samples (Figure 5), and out-of-distribution detection (its sets and metrics). Imported when a
job runs."""
