"""Model families: loading and inference code each model plugin builds on."""
