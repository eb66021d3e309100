"""The base of every error caused by input a user can fix (a bad file, row or setting).

Stage commands print such an error's message, which names the file, row or
key and what to do, and exit non-zero without a traceback; any other
exception is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input: the message says what is wrong, where, and how to fix it."""
