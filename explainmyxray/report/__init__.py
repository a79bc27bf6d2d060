"""Report vocabulary (PadChest ontology), rendering and parsing."""
