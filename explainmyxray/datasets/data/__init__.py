"""Data files of the data-set readers: the IU X-ray MeSH → PadChest mapping."""
