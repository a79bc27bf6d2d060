"""Transformers vision-language report generators: MedGemma and PaliGemma 2.

What the families share lives here once: loading (:mod:`.runner`), the decoding settings and
batch call (:mod:`.generation`), the ``generate`` step's options and body (:mod:`.step`), the
static-cache decoder (:mod:`.static_decoding`) and the tiny test-model builders (:mod:`.tiny`).
Importing this package is cheap (no torch).
"""
