"""User-facing errors: one line saying what is wrong and what to do, exit status 2, no traceback."""


class UserError(Exception):
    """Bad input or an impossible request. The CLI prints `bench: error: <message>` and exits 2."""

    exit_code = 2
