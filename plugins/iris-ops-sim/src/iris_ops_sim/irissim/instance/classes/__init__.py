"""The IRIS system classes the tool uses, simulated over :class:`~..state.SimInstance`.

Each class and method names its page in the IRIS 2024.1 class reference
(``caretdev/docs-intersystems``, ``ref/2024.1/<Package>/<Class>.cls``).  Where the reference
is silent about a failure (error number or text), the choice is marked ``[UNV]``: the simulated
behaviour is then the stricter one, never the more forgiving.  One module per class family;
each registers its classes with the interpreter's runtime when first imported, which happens
when a script first names one of them (``CLASS_MODULES`` in the parent package).
"""

__all__: list[str] = []
