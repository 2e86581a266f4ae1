"""Test support: what the fixtures in ``tests/conftest.py`` and the test files build on.

- :mod:`support.server`: where the session's S3 server is (:class:`~support.server.ServerInfo`,
  with bucket admin through boto3), s3torch clients for it, ``put`` (one object uploaded) and
  ``stocked_bucket`` (a bucket filled for a test).
- :mod:`support.fault_proxy`: a loopback proxy that breaks requests on purpose.
- :mod:`support.faults`: the fault-injection tests' fixtures and helpers.
- :mod:`support.bad_input`: the bad-input tests' fixtures and helpers.
- :mod:`support.wrong_region`: a loopback server that answers as S3 does to a wrong region.

``tests/`` is on ``sys.path`` while pytest runs (it has no ``__init__.py``), so test files
import these as ``support.<module>``.
"""
