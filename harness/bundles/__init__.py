"""Results that travel: finished runs exported as one verified bundle (:mod:`.export`), bundles checked as the
untrusted input they are (:mod:`.verify`) and imported into a results folder (:func:`harness.store.import_run`).
The format: :mod:`.layout`."""
