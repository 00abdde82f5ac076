"""Robustness and uncertainty of trained classifiers (Section 4.4): adversarial attack (FGSM) and
out-of-distribution detection metrics. Imported when a job runs."""
