"""Image decoding, resizing, contrast enhancement and the geometry that maps boxes."""
