"""The dataset engine: what S3MapDataset, S3IterableDataset and S3TarDataset are built from.

One concern per module, in the order data flows through them:

- :mod:`.source`: where the objects come from (prefixes, URIs, a ``get_dataset_objects`` callable).
- :mod:`.table`: the compact listing every worker shares (mapped, not copied, by spawned ones).
- :mod:`.manifest`: that listing saved to a file or an S3 object, and loaded back.
- :mod:`.sharding`: the arithmetic of epoch order, equal shards over ranks and workers, and seeds.
- :mod:`.state`: the one epoch/shard/resume state of an iterable dataset.
- :mod:`.progress`: its saved form (``state_dict()``), and joining every rank's states into one
  that resumes at another world size or worker count.
- :mod:`.prefetch`: the next objects' requests in flight, bounded by count and bytes.
- :mod:`.cache`: the local disk cache across epochs (a stable subset of the objects, not LRU).
- :mod:`.metrics`: a dataset's counters and per-epoch waits, summed over its DataLoader workers
  through a shared file.
- :mod:`.objects`: what every dataset keeps (source, client settings, listing) and how it opens
  objects.
- :mod:`.tar` and :mod:`.decoders`: the streaming tar parser and the sample decoders of tar shards.

Nothing here is public: the public names live in ``s3torch.s3map_dataset``,
``s3torch.s3iterable_dataset``, ``s3torch.tar_dataset`` and ``s3torch.shuffle``.
"""
