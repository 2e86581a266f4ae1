"""The side-by-side benchmark harness behind ``make bench`` (entry point: ``benchmarks/run.py``).

Modules:

- :mod:`harness.spec`: the workloads, their sizes (full and ``--quick``), clients and targets;
- :mod:`harness.servers`: the S3 servers measured against (localbucket, SeaweedFS);
- :mod:`harness.proxy`: a loopback TCP proxy that adds round-trip time;
- :mod:`harness.crt`: a thin layer over aws-crt-python's S3 client (raw reference, data upload);
- :mod:`harness.datagen`: uploads every data set once per server;
- :mod:`harness.workloads`: what each client does for each workload;
- :mod:`harness.worker`: one measured run, in a fresh subprocess;
- :mod:`harness.measure`: process CPU and memory readings, medians;
- :mod:`harness.report`: ``results/latest.json``, ``latest.md`` and ``ratios.png``.
"""
