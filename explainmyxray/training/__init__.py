"""Fine-tuning the report generator: data sets of (image, structured report) pairs, the QLoRA
training loop (TRL ``SFTTrainer``), evaluation with the project's own metrics, training cards.

Nothing heavy is imported here; torch, transformers, peft and trl are imported where they are used.
"""
