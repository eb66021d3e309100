"""Published models scored on cxr's footing, everything about them in one package.

Each peer is fed the way its authors fed it and its outputs are mapped onto
the 14 NIH findings (an output it lacks is unscored, never zero):

* ``base``: the ``Peer`` interface and ``Provenance`` (what it was trained on);
* ``xrv`` and ``chexnet``: torchxrayvision's models and CheXNet checkpoints;
* ``registry``: ``xrv:<weights>`` / ``chexnet:<file>`` to a loaded peer;
* ``scoring``: a peer on cxr's validation, test and external images, with the
  calibration and thresholds fitted for it on validation (``cxr score``);
* ``report`` and ``table``: its report, and every model side by side
  (``reports/peers.md``);
* ``inference``: ``cxr predict --model xrv:...`` with what ``cxr score`` fitted.

The package sits above ``inference`` and ``report`` in cxr's layers (it uses
both) and nothing below imports it.
"""
