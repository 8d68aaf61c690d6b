"""The one kind of error a user fixes by changing what they gave: a year, an id, a setting, a file.

The command line reports an ``InputError`` in one line and exits 2; any other exception is a
bug or a failure of the machine and keeps its traceback. A ``ValueError`` subclass, so code
that validates values can raise it where a ``ValueError`` is expected.
"""


class InputError(ValueError):
    """An input the user must fix; the message names it and says why."""
