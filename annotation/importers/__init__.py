"""Importers: containers (readers), normalised records, one adapter per data format, and the bulk writer.

The service that ties them together is annotation.services.imports.import_file.
"""
