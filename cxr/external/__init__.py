"""Other data sets read into cxr's terms, for external validation (other hospitals' films)
and NIH re-reads (RSNA's and SIIM's: NIH's own films, relabelled); ``formats.py`` lists
them."""
