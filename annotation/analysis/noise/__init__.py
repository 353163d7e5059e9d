"""Noisy-label detectors that need no model (JUDGING.md "Noisy labels: detectors"): plain records in, one
`Suspicion` per judgment out. The cross-fitted reward model lives in `rewards/training/crossfit.py` and returns the
same `Suspicion` rows."""
