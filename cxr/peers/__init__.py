"""Published models scored on cxr's footing: each peer fed the way its authors fed it, its
outputs mapped onto the 14 NIH findings (an output it lacks is unscored, never zero)."""
