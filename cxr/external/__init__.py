"""Other hospitals' data sets read into cxr's terms, for external validation."""
