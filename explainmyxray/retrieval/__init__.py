"""Reference indexes of radiographs and reports, and nearest-neighbour search over them."""
