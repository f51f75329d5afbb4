"""The cleaning engine: pure pandas, no database, no queue, no web.

Import the submodules you need (``worker.cleaning.config`` and
``worker.cleaning.sniff`` load no pandas, so validating a config or previewing
an upload stays cheap); this package itself imports nothing.
"""
