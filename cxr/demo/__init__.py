"""The embedded demo data set: synthetic chest radiograph phantoms in the NIH layout.

No NIH image can be downloaded on the machines this project is built on, so
the project makes its own test bed: frontal radiograph phantoms with anatomy,
14 findings with their own visual signatures at known places, NIH-like label
co-occurrence and follow-up studies, written exactly in NIH's folder layout
(label CSV, ``images/*.png``, box list, official-style split lists). A correct
pipeline must learn it and point at its boxes. See ``docs/demo-data.md``.
"""
