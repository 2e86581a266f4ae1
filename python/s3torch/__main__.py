"""``python -m s3torch``: the ``s3torch`` command line (see :mod:`s3torch.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
