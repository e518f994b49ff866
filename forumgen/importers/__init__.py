"""Importers: other forums' and mailing lists' archives -> content files in the SPEC's
format (`mbox`, `discourse`). Each writes through content.py and never changes a file
that exists, so an import can be run again to top a forum up."""
