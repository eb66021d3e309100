"""DVC stage commands: each reads params.yaml, calls the cxr library and writes the stage's outputs."""
