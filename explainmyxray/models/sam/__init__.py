"""SAM-style box-promptable segmenters: LiteMedSAM and MedSAM ViT-B, their shared box-prompt
code (:mod:`.prompts`), runner base (:mod:`.runner`) and mean-probability ensemble
(:mod:`.ensemble`). Importing this package is cheap (no torch)."""
