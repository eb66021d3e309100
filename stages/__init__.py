"""DVC stage commands: each reads params.yaml, calls the cxr library, writes the outputs."""
