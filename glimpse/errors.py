"""The one error type for a user's mistake."""


class UsageError(ValueError):
    """A user's mistake: a bad option, a missing file, data not found, an unreadable checkpoint.

    The command line reports it in one line, ``glimpse: error: <message>``, with exit status 2.
    Programming errors (a wrong type passed by code, a broken invariant) still raise their own
    exceptions and give a traceback.
    """
