"""One exception for bad input: the CLI prints its message as one line and exits with status 2."""


class BadInput(Exception):
    """Something the user gave (a file, a column, an option) is wrong.

    The message says what is wrong, where (file, column or option) and, where there is one, the fix.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
