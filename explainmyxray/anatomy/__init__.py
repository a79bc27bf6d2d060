"""Chest anatomy: the 26 regions, PadChest locations mapped onto them, and the localizer."""
